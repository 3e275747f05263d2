// How the pages of a Vite dev server come back to the agent (the Vite adapter's half that
// listens): their acknowledgements, the errors they and Vite report (as `preview-error`, with
// the project file and line), their console, and the modules they could not load.

import fs from "node:fs";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { emit } from "../protocol.mjs";
import { clientSide, moduleGraphs, onPageConnect } from "./vite-compat.mjs";
import { config, integer, now, state } from "./vite-state.mjs";

const ACK_KINDS = new Set(["update", "css", "reload", "error"]);

export function projectPath(url) {
  if (!url) return undefined;
  let pathname = String(url);
  try { pathname = new URL(pathname, "http://x").pathname; } catch { return undefined; }
  pathname = decodeURIComponent(pathname);
  if (pathname.startsWith(state.base)) pathname = "/" + pathname.slice(state.base.length);
  const file = pathname.startsWith("/@fs/") ? pathname.slice(4) : path.join(config.root, pathname);
  const relative = path.relative(config.workspace, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? undefined : relative.split(path.sep).join("/");
}

// The project file a compile error is in: its absolute `loc.file` or `id` (svelte's
// `loc.file` is relative to something else), else the first workspace path its message names.
function errorFile(err, message) {
  for (const file of [err.loc?.file, err.id]) {
    if (file && path.isAbsolute(String(file))) return workspacePath(file);
  }
  return fileInMessage(message);
}

// Where in its file a compile error is (1-based): its `loc`, else the position Oxc and
// Rolldown put only in the message ("╭─[ src/App.tsx:3:1 ]").
function errorPosition(err, message) {
  const at = /\[\s*([^\]\s]+):(\d+):(\d+)\s*\]/.exec(message);
  return {
    line: integer(err?.loc?.line) ?? (at ? Number(at[2]) : undefined),
    column: integer(err?.loc?.column) ?? (at ? Number(at[3]) : undefined),
  };
}

// Some compilers name the file only in their message (@vitejs/plugin-vue: a line holding the
// absolute path): the first of the workspace's paths it mentions.
function fileInMessage(message) {
  const start = message.indexOf(config.workspace + path.sep);
  return start < 0 ? undefined : workspacePath(/^[^\s:()'"]+/.exec(message.slice(start))[0]);
}

function workspacePath(file) {
  if (!file) return undefined;
  const relative = path.relative(config.workspace, String(file).split("?")[0]);
  return relative.startsWith("..") || path.isAbsolute(relative) ? undefined : relative.split(path.sep).join("/");
}

// What Vite sends the pages, seen on its way:
// * an update: the modules it names are transformed right away, while the message
//   travels to the pages, so the module each page then imports is ready when asked for
//   (plain Vite transforms it only on that request);
// * a compile error ({type: "error"}): reported too, so the chat learns of it even
//   when no page is open.
export function watchPagePayloads(server) {
  const side = clientSide(server);
  const hot = server.ws;
  const send = hot.send.bind(hot);
  onPageConnect(server, () => (state.fresh = false));
  hot.send = (payload, ...rest) => {
    if (payload?.type === "full-reload" && state.fresh && server.ws.clients.size === 0) return;
    if (payload?.type === "update") {
      const sent = send(payload, ...rest); // the message first, then the work
      for (const update of payload.updates ?? []) {
        if (update.type === "js-update") side.warmupRequest(update.acceptedPath ?? update.path).catch(() => {});
      }
      return sent;
    }
    if (payload && typeof payload === "object" && payload.type === "error") {
      const err = payload.err ?? {};
      const message = String(err.message ?? "compile error");
      emit("preview-error", {
        kind: "compile",
        message: message.slice(0, 4000),
        file: errorFile(err, message),
        ...errorPosition(err, message),
        frame: err.frame ? String(err.frame).slice(0, 2000) : undefined,
        plugin: err.plugin ? String(err.plugin) : undefined,
      });
    }
    return send(payload, ...rest);
  };
}

// A page's acknowledgement of change `data.seq` (the Vite adapter's and the others'). Each page acknowledges a change once (its `page` id); every page's is reported, with
// the time it arrived less the page's settling wait (`settledMs`: the page looked for an
// error before it answered), so the service counts the pages a change reached. `describe`
// makes a failed update's error report (preview-error fields) from the page's, or null.
const acked = new Map(); // seq -> pages that acknowledged it
export async function pageAck(data, describe) {
  // A page loaded again for this dev server's start: its reload (a restart the agent before
  // this one announced, negative; "launch" from a status page or a page the proxy held)
  // acknowledges the update that started it (launchSeq), if one did.
  const loadedAgain = data?.kind === "reload" || data?.kind === "error";
  const forStart = loadedAgain && (data?.seq === "launch" || Number(data?.seq) < 0);
  if (forStart && config.launchSeq == null && data?.seq === "launch") return;
  const number = forStart ? Number(config.launchSeq ?? data?.seq) : Number(data?.seq);
  const kind = String(data?.kind ?? "update");
  if (!Number.isInteger(number) || !ACK_KINDS.has(kind)) return;
  const sent = state.shownAt.get(number);
  if (sent === undefined && !forStart) return;
  const pages = acked.get(number) ?? new Set();
  const page = String(data?.page ?? "");
  if (pages.has(page)) return;
  pages.add(page);
  acked.set(number, pages);
  if (acked.size > 1000) acked.delete(acked.keys().next().value);
  const settled = Number(data?.settledMs);
  const at = now() - (Number.isFinite(settled) && settled > 0 ? settled : 0);
  // A failed update: its error first (with the change's number), then the ack; not an error
  // Vite showed in its overlay, which it reported itself (a compile error).
  const error = data?.kind === "error" && data?.error?.shown !== "overlay" ? data.error : null;
  const described = error ? await describe(error) : null; // null: reported already
  if (described) emit("preview-error", { seq: number, ...described });
  emit("ack", { seq: number, kind, at, page, sinceShownMs: sent === undefined ? undefined : at - sent });
}

export function listenToPages(server) {
  server.ws.on("kontext:ack", (data) => pageAck(data, (error) => updateError(server, error)));
  // A page's HMR client gave up on a module's new version ("Could not Fast Refresh": its
  // exports changed) and asks the server to update its importers instead. Vite does so only
  // if the module, as the server has it now, accepts itself: one emptied, or no longer a
  // component module, does not, and the page would keep importers that a fresh load no
  // longer has (and hear of no error). The agent then shows the module as changed once more,
  // which Vite's HMR carries to its importers like any change (issue 29). Once per version.
  const invalidated = new Set();
  server.ws.on("vite:invalidate", (data) => {
    const url = String(data?.path ?? "");
    const module = clientSide(server).moduleGraph.urlToModuleMap.get(url);
    if (!module?.file || (module.isSelfAccepting && module.lastHMRTimestamp > 0)) return;
    const version = `${url}@${module.lastHMRTimestamp}`;
    if (invalidated.has(version)) return;
    invalidated.add(version);
    if (invalidated.size > 1000) invalidated.delete(invalidated.values().next().value);
    for (const moduleGraph of moduleGraphs(server)) moduleGraph.onFileChange(module.file);
    server.watcher.emit("change", module.file);
  });
  // A page whose app did not load names the module the dev server could not answer: it is
  // shown why as Vite shows a compile error (its overlay: what a page that was open when the
  // error came sees), and the chat hears of it.
  server.ws.on("kontext:load-failed", async (data, client) => {
    let served;
    try {
      const { pathname, search } = new URL(String(data?.url));
      served = (pathname.startsWith(state.base) ? "/" + pathname.slice(state.base.length) : pathname) + search;
    } catch {
      return;
    }
    const reason = await fetchFailure(server, served, projectPath(data.url));
    if (!reason.message) return;
    const loc = reason.line ? { file: reason.file, line: reason.line, column: reason.column } : undefined;
    const err = { message: reason.message, stack: "", id: reason.file, frame: reason.frame, loc, plugin: reason.plugin };
    client?.send?.({ type: "error", err });
  });
  server.ws.on("kontext:reloading", (data) => {
    const number = Number(data?.seq);
    if (state.shownAt.has(number)) emit("reloading", { seq: number });
  });
  server.ws.on("kontext:console", async (data) => {
    const [, url, line, column] = /(https?:\/\/[^\s)]+?):(\d+):(\d+)/.exec(String(data?.caller ?? "")) ?? [];
    const file = url ? projectPath(url) : undefined;
    const at = file ? await sourcePosition(server, url, Number(line), Number(column)) : {};
    consoleOut.add({ level: data?.level === "error" ? "error" : "warn", message: String(data?.message ?? "").slice(0, 2000), file, ...at });
  });
  // A page's runtime error: where it was thrown (the error event's place), else the first
  // project frame of its stack (an error a framework's error boundary caught and logged).
  server.ws.on("kontext:error", async (data) => {
    const stack = data?.stack ? String(data.stack).slice(0, 4000) : undefined;
    const at = Number.isInteger(data?.line) && projectPath(data?.url)
      ? { file: projectPath(data.url), ...(await sourcePosition(server, data.url, data.line, Number(data?.column) || 1)) }
      : ((await firstProjectFrame(server, stack)) ?? {});
    emit("preview-error", {
      kind: "runtime",
      message: String(data?.message ?? "error").slice(0, 4000),
      file: at.file,
      line: integer(at.line),
      column: integer(at.column),
      stack,
    });
  });
}

// Why a page could not apply an update, as exactly as can be known: where the browser's
// error points into a project module (its stack's first project frame); for a name a module
// does not export, the line that imports it; and when the page could not fetch the module
// at all (Vite's client does not say why), the server's own error transforming it.
async function updateError(server, report) {
  const module = projectPath(report.path);
  const message = report.message ? String(report.message).slice(0, 4000) : `could not apply the update of ${module ?? report.path}`;
  const out = { kind: "update", message, file: module, stack: report.stack ? String(report.stack).slice(0, 4000) : undefined };
  const frame = await firstProjectFrame(server, report.stack);
  if (frame) Object.assign(out, frame);
  const missing = /does not provide an export named '([^']+)'/.exec(out.message);
  if (missing && module) Object.assign(out, importLine(module, missing[1]));
  if (!report.message) Object.assign(out, await fetchFailure(server, report.path, module));
  return out;
}

// The first frame of a stack that points into a project module, mapped back to the
// module's source through the source map of its transform (the browser's positions are
// those of the code Vite served).
async function firstProjectFrame(server, stack) {
  for (const [, url, line, column] of String(stack ?? "").matchAll(/(https?:\/\/[^\s)]+?):(\d+):(\d+)/g)) {
    const file = projectPath(url);
    if (file) return { file, ...(await sourcePosition(server, url, Number(line), Number(column))) };
  }
  return null;
}

async function sourcePosition(server, url, line, column) {
  try {
    const { pathname } = new URL(url);
    const served = pathname.startsWith(state.base) ? "/" + pathname.slice(state.base.length) : pathname;
    const module = await clientSide(server).moduleGraph.getModuleByUrl(served);
    const map = module?.transformResult?.map;
    if (map?.mappings) {
      const found = originalPositionFor(new TraceMap(map), { line, column: column - 1 });
      if (found.line != null) return { line: found.line, column: found.column + 1 };
    }
  } catch {}
  return { line, column };
}

// Why a page could not fetch a module (Vite's client does not say): the server's own
// error transforming it, or an import of a file that no longer exists.
async function fetchFailure(server, url, module) {
  const env = clientSide(server);
  try {
    await env.transformRequest(url);
  } catch (err) {
    // The server's own error, unlike the one Vite sends the pages, keeps its terminal
    // colours, which would split the position in its message.
    const message = stripVTControlCharacters(String(err?.message ?? err));
    return {
      message: message.slice(0, 4000),
      file: errorFile(err, message) ?? module,
      ...errorPosition(err, message),
      frame: err?.frame ? String(err.frame).slice(0, 2000) : undefined,
      plugin: err?.plugin ? String(err.plugin) : undefined,
    };
  }
  const imported = [...((await env.moduleGraph.getModuleByUrl(url))?.importedModules ?? [])];
  const gone = imported.find((m) => m.file && !fs.existsSync(m.file) && workspacePath(m.file));
  if (!gone || !module) return {};
  const name = path.basename(gone.file).replace(/\.[^.]+$/, "");
  return { message: `${module} imports ${workspacePath(gone.file)}, which does not exist`, ...importLine(module, name) };
}

// The line and column of an import of `name` in a project file (1-based), if it has one.
function importLine(file, name) {
  let text;
  try { text = fs.readFileSync(path.join(config.workspace, file), "utf8"); } catch { return {}; }
  const lines = text.split("\n");
  const pattern = new RegExp(`\\b${name.replace(/[^\w$]/g, "")}\\b`);
  for (let i = 0; i < lines.length; i++) {
    if (/\bimport\b/.test(lines[i]) && pattern.test(lines[i])) return { line: i + 1, column: lines[i].search(pattern) + 1 };
  }
  return {};
}

// The pages' console, as the chat gets it: a message repeated in a row is one event with a
// count (held CONSOLE_FOLD_MS for repeats), and at most CONSOLE_PER_SECOND events a second
// leave the agent (what is left out is counted in the next one's `dropped`).
const CONSOLE_FOLD_MS = 250;
const CONSOLE_PER_SECOND = 20;
export const consoleOut = {
  held: null, timer: null, second: 0, sent: 0, dropped: 0, tally: null,
  add(entry) {
    const key = JSON.stringify(entry);
    if (this.held?.key === key) { this.held.count += 1; return; }
    this.flush();
    this.held = { key, entry, count: 1 };
    this.timer = setTimeout(() => this.flush(), CONSOLE_FOLD_MS);
  },
  flush() {
    clearTimeout(this.timer);
    const held = this.held;
    this.held = null;
    if (!held) return;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) { this.second = second; this.sent = 0; }
    if (this.sent >= CONSOLE_PER_SECOND) {
      this.dropped += held.count;
      // What was left out is said once the second is over, if nothing else says it first.
      this.tally ??= setTimeout(() => this.tellDropped(), 1000 - (Date.now() % 1000) + 10);
      return;
    }
    this.sent += 1;
    emit("console", { ...held.entry, count: held.count, dropped: this.dropped || undefined });
    this.dropped = 0;
  },
  tellDropped() {
    this.tally = null;
    if (!this.dropped) return;
    emit("console", { level: "warn", message: `${this.dropped} console messages left out (more than ${CONSOLE_PER_SECOND} a second)`, count: 1, dropped: this.dropped });
    this.dropped = 0;
  },
};

// css-injection: recompile each stylesheet through Vite (PostCSS, Tailwind,
// preprocessors), which also refreshes Vite's cache so a reload shows the same
// CSS, and push the result to the pages over the HMR socket. Stylesheets that
// cannot be injected (not loaded yet, CSS modules, <link> tags) go through the
