// The agent's side of the agent protocol. Its source is kontext_preview/sandbox/protocol.py
// (pydantic models); protocol.schema.json is made from them, and protocol.validate.mjs
// (Ajv's standalone code) from that (`make agent-schema`). What the agent receives is checked
// here: its config, the control socket's first line (the token) and each request; what it
// sends (its events on stdout) is checked too, and one outside the protocol is not sent but
// said, as a `log` at `error` level (the service checks what it reads the same way).

import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";
import * as validate from "./protocol.validate.mjs";

// Ajv's errors, as a person reads them (the first three).
function described(errors) {
  return (errors ?? []).slice(0, 3).map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
}

// The agent's config: one JSON argument, or "@file" naming a JSON file (the service writes
// one: no command line carries the control token). Throws if it is not in the protocol.
export function readConfig(argument) {
  const config = JSON.parse(argument.startsWith("@") ? fs.readFileSync(argument.slice(1), "utf8") : argument);
  if (!validate.AgentConfig(config)) {
    throw new Error(`the agent's config is not in its protocol: ${described(validate.AgentConfig.errors)}`);
  }
  return config;
}

// Say something on stdout, one JSON object a line. Everything the agent says is read by
// people and by the chat's AI, not by a terminal: Vite's and Rolldown's colours (terminal
// escapes) are taken out of every text field. Fields left undefined are left out.
// stdout as it was before keepStdout() took it: the protocol's lines go out through it.
const writeLine = process.stdout.write.bind(process.stdout);

export function emit(type, fields = {}) {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, typeof v === "string" ? stripVTControlCharacters(v) : v]),
  );
  const line = JSON.stringify({ type, ...plain });
  const event = JSON.parse(line); // as the service will read it (NaN is null there)
  if (validate.AgentEvent(event)) {
    writeLine(line + "\n");
    return;
  }
  const why = described(validate.AgentEvent.errors);
  writeLine(JSON.stringify({ type: "log", level: "error", message: `agent protocol: a ${type} event not sent (${why}): ${line.slice(0, 300)}` }) + "\n");
}

// stdout is the protocol's: what anything else in the agent's process writes there (a
// framework's own logger writes its lines to process.stdout: Astro's does) is said as a
// `log` at `info` level, a line at a time, never as a line the service could not read.
export function keepStdout() {
  let partial = "";
  process.stdout.write = (chunk, encoding, callback) => {
    partial += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop();
    for (const line of lines) if (line.trim()) emit("log", { level: "info", message: line });
    const done = [encoding, callback].find((a) => typeof a === "function");
    if (done) process.nextTick(done);
    return true;
  };
}

// Say why the agent cannot go on, and exit.
export function fail(message, err) {
  emit("error", { message, detail: err ? String(err.stack ?? err) : undefined });
  process.exit(1);
}

// The control channel: a Unix socket in the session's folder, one JSON object a line each
// way, a persistent connection (a fraction of an HTTP request's cost per change). The first
// line must be the Hello (the session's token), else the connection is closed; then each
// request {"id", "action", ...} (ControlRequest) gets {"id", ...answer} or {"id", "error"},
// in order. `actions` maps each action to a function of the request; `onRequest` hears of
// each request (its action) before it runs.
export function serveControl(socketPath, token, actions, onRequest = () => {}) {
  fs.rmSync(socketPath, { force: true });
  const control = net.createServer((conn) => {
    let buffer = "";
    let trusted = false;
    let queue = Promise.resolve();
    conn.setEncoding("utf8");
    conn.on("error", () => conn.destroy());
    conn.on("data", (chunk) => {
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!trusted) {
          const hello = safeJson(line);
          trusted = validate.Hello(hello) && hello.token === token;
          if (!trusted) return conn.destroy();
          continue;
        }
        queue = queue.then(() => answer(conn, safeJson(line), actions, onRequest));
      }
    });
  });
  // Unix socket paths are short (108 bytes): bind by the shorter of the two spellings.
  const relative = path.relative(process.cwd(), socketPath);
  return new Promise((resolve, reject) => {
    control.once("error", reject);
    control.listen(relative.length < socketPath.length ? relative : socketPath, () => {
      fs.chmodSync(socketPath, 0o600);
      resolve(control);
    });
  });
}

async function answer(conn, request, actions, onRequest) {
  const id = Number.isInteger(request?.id) ? request.id : null;
  let reply;
  try {
    if (!validate.ControlRequest(request)) {
      throw new Error(`not a request of the agent protocol: ${described(validate.ControlRequest.errors)}`);
    }
    onRequest(request.action);
    reply = await actions[request.action](request);
  } catch (err) {
    reply = { error: String(err?.message ?? err) };
  }
  conn.write(JSON.stringify({ ...reply, id }) + "\n");
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
