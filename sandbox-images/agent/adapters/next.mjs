// The Next.js adapter: Next's own dev server (Turbopack, Next's default since 16; webpack
// where the project's Next has no Turbopack), started in this process through Next's custom
// server API (`next({ dev: true })`, https://nextjs.org/docs/app/guides/custom-server) behind
// an HTTP server of the agent's. Next is not Vite underneath: its own file watcher sees the
// session's files (written before the agent is told), its HMR socket (/_next/webpack-hmr)
// (/_next/hmr; /_next/webpack-hmr before 16) goes through to it, and its Fast Refresh and server-component refetch update the pages.
// What the agent adds is what the Vite path has:
//   * the page client (page/next-client.js) first in every page's <head>: it watches Next's
//     HMR messages and acknowledges each change once the page shows it (or says why not),
//     over a socket of its own at the session's HMR path (`kontext-page`, token checked);
//   * compile errors as `preview-error` with the project file and line, heard by an HMR
//     client of the agent's own (with or without a page open); runtime errors and the
//     console from the pages;
//   * a change to next.config.* starts a new agent (the service does, as `next dev` starts a
//     new process for it: Turbopack's native side is set up once per process);
//   * no request leaves the machine: Next's telemetry is off, its version check (a fetch of
//     the npm registry's dist-tags) answers "unknown", and what Turbopack itself fetches
//     (Google Fonts for next/font/google) goes to a proxy address on the loopback that
//     refuses at once (Next falls back to the system font, as offline; it says so in a log).
// Requests from the preview's host are let through Next's dev-origin check (its
// `allowedDevOrigins`: the preview host is added as Next's own `hostname`).

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { AnyMap, originalPositionFor } from "@jridgewell/trace-mapping";
import { WebSocket, WebSocketServer } from "ws";
import { emit } from "../protocol.mjs";
import { importFrom, packageDir } from "../packages.mjs";
import { configure, config, now, state } from "./vite-state.mjs";
import { consoleOut, pageAck } from "./vite-pages.mjs";
import { injectIntoPages, pageRequests, prepareWritableDirs, recordPageLoad } from "./vite.mjs";

const CLIENT_PATH = "/@kontext/next-client.js";
const PROTOCOL = "kontext-page";
// An address on the loopback nothing listens on: outgoing requests through it fail at once.
const NOWHERE = "http://127.0.0.1:9";
const CLIENT_CODE = fs.readFileSync(new URL("../page/next-client.js", import.meta.url), "utf8");

let seq = 0;
const compileReported = new Set(); // compile errors said already (the newest few)

function remember(set, value) {
  set.add(value);
  if (set.size > 20) set.delete(set.values().next().value);
}
let app = null; // Next's server
const pages = new Set(); // the pages' sockets (the page client's)

function quiet() {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]) process.env[name] = NOWHERE;
  process.env.NO_PROXY = process.env.no_proxy = "127.0.0.1,localhost,::1";
  const fetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = String(input?.url ?? input);
    if (/^https?:\/\//.test(url) && !/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(url)) {
      return Promise.resolve(new Response("no internet from a preview", { status: 503 }));
    }
    return fetch(input, init);
  };
}

// Next writes type files into the project as it starts (next-env.d.ts, and tsconfig.json where
// it lacks Next's defaults): for an editor's type checking, not for serving. A container's
// workspace is read-only: such a write is left out (said once in a log), not a crash.
const TYPE_FILES = new Set(["next-env.d.ts", "tsconfig.json"]);

function typeFilesStayAsTheyAre() {
  const leftOut = (file) => path.dirname(path.resolve(String(file))) === config.root && TYPE_FILES.has(path.basename(String(file)));
  const said = new Set();
  const say = (file) => {
    if (said.has(file)) return;
    said.add(file);
    emit("log", { level: "info", message: `Next.js would update ${path.basename(String(file))}; the workspace is read-only, it stays as sent` });
  };
  const writeFile = fs.promises.writeFile;
  fs.promises.writeFile = async (file, ...rest) => {
    try {
      return await writeFile(file, ...rest);
    } catch (err) {
      if (err?.code !== "EROFS" || !leftOut(file)) throw err;
      say(file);
    }
  };
  const writeFileSync = fs.writeFileSync;
  fs.writeFileSync = (file, ...rest) => {
    try {
      return writeFileSync(file, ...rest);
    } catch (err) {
      if (err?.code !== "EROFS" || !leftOut(file)) throw err;
      say(file);
    }
  };
}

// Turbopack compiles no file outside its root (by default the folder of the nearest
// lockfile): a project whose node_modules is a link to a prepared stack's tree (no install:
// sandbox/dependencies.py) gets the nearest folder above both as its root, through the
// variable Next's own config loading reads for it (server/config.js: the repository root,
// used where the project sets neither `turbopack.root` nor `outputFileTracingRoot`).
function rootAboveDependencies() {
  if (process.env.NEXT_PRIVATE_OUTPUT_TRACE_ROOT) return;
  let modules;
  try {
    modules = fs.realpathSync(path.join(config.root, "node_modules"));
  } catch {
    return;
  }
  const root = fs.realpathSync(config.root);
  if (modules.startsWith(root + path.sep)) return;
  const [ours, theirs] = [root.split(path.sep), modules.split(path.sep)];
  let same = 0;
  while (same < ours.length && ours[same] === theirs[same]) same += 1;
  process.env.NEXT_PRIVATE_OUTPUT_TRACE_ROOT = ours.slice(0, same).join(path.sep) || path.sep;
}

// The bundler the project's own `dev` script asks for (`next dev --turbopack`, Next 15's
// way to Turbopack; `--webpack`, Next 16's way back), else Next's default (16: Turbopack,
// 15 and before: webpack).
function bundler() {
  let script = "";
  try {
    script = String(JSON.parse(fs.readFileSync(path.join(config.root, "package.json"), "utf8")).scripts?.dev ?? "");
  } catch {}
  if (/\bnext\s+dev\b.*--webpack\b/.test(script)) return { webpack: true };
  if (/\bnext\s+dev\b.*--turbo(pack)?\b/.test(script)) return { turbopack: true };
  return {};
}

async function createNext() {
  const next = (await importFrom("next", [config.root])).default;
  const created = next({
    ...bundler(),
    dev: true,
    dir: config.root,
    hostname: config.publicHost,
    port: config.port ?? 3000,
  });
  await created.prepare();
  return created;
}

// The page client's <script> tag, its config in data- attributes (the HMR token is as
// public as Vite's, which /@vite/client carries).
function clientTags() {
  const attribute = (value) => String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  return `<script src="${CLIENT_PATH}" data-ws-path="${attribute(config.wsPath)}" data-ws-token="${attribute(config.wsToken)}"></script>`;
}

function serveClient(res) {
  res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" });
  res.end(CLIENT_CODE);
}

function broadcast(payload) {
  const text = JSON.stringify(payload);
  for (const page of pages) if (page.readyState === WebSocket.OPEN) page.send(text);
}

function announce() {
  seq += 1;
  state.shownAt.set(seq, now());
  if (state.shownAt.size > 1000) state.shownAt.delete(state.shownAt.keys().next().value);
  broadcast({ type: "custom", event: "kontext:update", data: { seq, reload: false } });
  return seq;
}

// The files changed (already written: Next's watcher sees them itself). Every change inside
// the project is announced: which pages it reaches, Next knows; each page says (its ack).
// (A change to next.config.* never comes here: the service starts a new agent for it, as
// `next dev` starts a new process: a second Next cannot start in this one.)
function notify(changes) {
  const affected = changes
    .filter((change) => path.resolve(config.workspace, change.path).startsWith(config.root + path.sep))
    .map((change) => change.path);
  const number = affected.length ? announce() : null;
  return { affected, seq: number, clients: pages.size };
}

// The pages' messages: acknowledgements, runtime errors, console.
function listen(socket) {
  pages.add(socket);
  socket.on("close", () => pages.delete(socket));
  socket.on("message", async (raw) => {
    let message;
    try { message = JSON.parse(String(raw)); } catch { return; }
    const data = message?.data;
    if (message?.event === "kontext:ack") await pageAck(data, updateError);
    else if (message?.event === "kontext:error") {
      const stack = data?.stack ? String(data.stack).slice(0, 4000) : undefined;
      const thrownAt = data?.url && Number.isInteger(data?.line) ? `${data.url}:${data.line}:${data.column ?? 1}\n` : "";
      emit("preview-error", { kind: "runtime", message: String(data?.message ?? "error").slice(0, 4000), stack, ...(await sourceFrame(thrownAt + (stack ?? ""))) });
    } else if (message?.event === "kontext:console") {
      consoleOut.add({ level: data?.level === "error" ? "error" : "warn", message: String(data?.message ?? "").slice(0, 2000) });
    }
  });
}

// A page's report of a change it could not show: Next's compile error (the file and line its
// message starts with), or a runtime error (where its stack points into the project).
async function updateError(error) {
  const message = stripVTControlCharacters(String(error?.message ?? "update failed")).slice(0, 4000);
  if (error?.compile) {
    if (compileReported.has(message)) return null; // the agent's own HMR client said it
    remember(compileReported, message);
    return { kind: "compile", message, plugin: "next", ...compilePlace(message) };
  }
  const stack = error?.stack ? String(error.stack).slice(0, 4000) : undefined;
  return { kind: "update", message, stack, ...(await sourceFrame(stack)) };
}

// "./app/page.tsx:3:51\nError: …" -> {file, line, column}
function compilePlace(message) {
  const at = /^(\.?\.?\/[^\s:]+):(\d+):(\d+)/.exec(stripVTControlCharacters(message));
  if (!at) return {};
  // Relative to Turbopack's root: the project's, or the folder above it and its stack's tree
  // (rootAboveDependencies)
  const file = [process.env.NEXT_PRIVATE_OUTPUT_TRACE_ROOT, config.root]
    .filter(Boolean)
    .map((root) => projectFile(path.resolve(root, at[1])))
    .find(Boolean);
  return { file, line: Number(at[2]), column: Number(at[3]) };
}

// Where in the project a stack points: its first frame in a chunk Next served, mapped back
// through the chunk's source map (Turbopack's are sectioned, their sources file:// URLs),
// or a frame that names a project file itself (a server-side stack).
async function sourceFrame(stack) {
  // A frame's URL may hold parentheses (Turbopack's HMR chunks: `?id=…(ecmascript)`): the
  // position is the last `:line:column` of its line.
  for (const [, url, line, column] of String(stack ?? "").matchAll(/(https?:\/\/\S+?):(\d+):(\d+)\)?\s*$/gm)) {
    let pathname;
    try { pathname = new URL(url).pathname; } catch { continue; }
    if (!pathname.startsWith("/_next/")) continue;
    const map = await sourceMap(pathname);
    if (!map) continue;
    let found;
    try { found = originalPositionFor(map, { line: Number(line), column: Number(column) - 1 }); } catch { continue; }
    if (!found?.source || found.line == null) continue;
    const file = found.source.startsWith("file://") ? fileURLToPath(found.source) : found.source.replace(/^turbopack:\/\/\/\[project\]\//, config.root + "/");
    const relative = projectFile(file);
    if (relative) return { file: relative, line: found.line, column: found.column + 1 };
  }
  return firstProjectFrame(stack);
}

// A chunk's source map, asked of this server as a page would (the newest few kept).
const maps = new Map();
async function sourceMap(pathname) {
  if (maps.has(pathname)) return maps.get(pathname);
  const map = await new Promise((resolve) => {
    const request = http.get({ socketPath: config.socket ?? undefined, port: config.socket ? undefined : config.port, host: "127.0.0.1", path: pathname + ".map", headers: { host: config.publicHost } }, (res) => {
      if (res.statusCode !== 200) return res.resume(), resolve(null);
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        try { resolve(new AnyMap(JSON.parse(Buffer.concat(chunks).toString("utf8")))); } catch { resolve(null); }
      });
    });
    request.on("error", () => resolve(null));
    request.setTimeout(5000, () => request.destroy());
  });
  maps.set(pathname, map);
  if (maps.size > 50) maps.delete(maps.keys().next().value);
  return map;
}

// Where in the project a stack's first frame naming a project file is (server-side stacks).
function firstProjectFrame(stack) {
  for (const [, file, line, column] of String(stack ?? "").matchAll(/\(?((?:\/|\.\/)[^\s():]+):(\d+):(\d+)/g)) {
    const relative = projectFile(file);
    if (relative) return { file: relative, line: Number(line), column: Number(column) };
  }
  return {};
}

function projectFile(name) {
  const file = path.resolve(config.root, name);
  const relative = path.relative(config.workspace, file);
  if (relative.startsWith("..") || path.isAbsolute(relative) || relative.split(path.sep).includes("node_modules")) return undefined;
  return fs.existsSync(file) ? relative.split(path.sep).join("/") : undefined;
}

// Next's compile errors, as its HMR socket tells pages ("./app/page.tsx:3:51\nError: …"):
// heard by a client of the agent's own, so the chat learns of one with no page open.
function hearCompileErrors(address, hmrPath) {
  let last = "";
  let closed = false;
  const open = () => {
    if (closed) return;
    const url = typeof address === "string" ? `ws+unix://${address}:${hmrPath}` : `ws://127.0.0.1:${address}${hmrPath}`;
    const socket = new WebSocket(url, { headers: { host: config.publicHost } });
    socket.on("message", (raw, binary) => {
      if (binary) return;
      let message;
      try { message = JSON.parse(String(raw)); } catch { return; }
      const type = message.type ?? message.action;
      if (type !== "built" && type !== "sync") return;
      const errors = (message.errors ?? []).map((e) => stripVTControlCharacters(String(e?.message ?? e)));
      const key = errors.join("\n");
      if (key === last) return;
      last = key;
      for (const error of errors.slice(0, 5)) {
        const message = error.slice(0, 4000);
        if (compileReported.has(message)) continue;
        remember(compileReported, message);
        emit("preview-error", { kind: "compile", message, plugin: "next", ...compilePlace(message) });
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => setTimeout(open, 1000).unref());
  };
  open();
  return () => (closed = true);
}

export async function start(value) {
  configure(value);
  prepareWritableDirs();
  quiet();
  typeFilesStayAsTheyAre();
  rootAboveDependencies();
  app = await createNext();
  const handler = app.getRequestHandler();
  const upgrader = app.getUpgradeHandler();
  const inject = injectIntoPages(clientTags, CLIENT_PATH);
  const server = http.createServer((req, res) => {
    if (req.url === CLIENT_PATH) return serveClient(res);
    // Next compresses what it answers (gzip), which the page client cannot be put into; a
    // dev server on the loopback needs no compression (Vite has none).
    delete req.headers["accept-encoding"];
    recordPageLoad(req, res, () => inject(req, res, () => handler(req, res)));
  });
  const channel = new WebSocketServer({ noServer: true, handleProtocols: () => PROTOCOL });
  channel.on("connection", listen);
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname !== config.wsPath) return upgrader(req, socket, head);
    if (url.searchParams.get("token") !== config.wsToken) return socket.destroy();
    channel.handleUpgrade(req, socket, head, (ws) => channel.emit("connection", ws, req));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    if (config.socket) {
      fs.rmSync(config.socket, { force: true });
      server.listen(config.socket, () => (fs.chmodSync(config.socket, 0o666), resolve()));
    } else server.listen(config.port, config.bindHost ?? "127.0.0.1", resolve);
  });
  const version = JSON.parse(fs.readFileSync(path.join(packageDir("next", [config.root]), "package.json"), "utf8")).version;
  const stopHearing = hearCompileErrors(config.socket ?? config.port, Number(version.split(".")[0]) >= 16 ? "/_next/hmr" : "/_next/webpack-hmr");
  return {
    version,
    hmrPath: config.wsPath,
    clientPath: CLIENT_PATH,
    notify: (changes) => notify(changes),
    // Next pushes stylesheets itself (its HMR): they are changes like any other.
    inject: (paths) => ({ injected: [], ...notify(paths.map((p) => ({ path: p, event: "change" }))) }),
    announceRestart: (number) => {
      broadcast({ type: "custom", event: "kontext:update", data: { seq: number, reload: true } });
      return { affected: [], seq: number, clients: pages.size };
    },
    memory: () => ({ modules: 0, transformCode: 0, transformMaps: 0 }),
    pageRequests: () => [...pageRequests.values()],
    onRequest: (listener) => server.on("request", listener),
    close: async () => {
      stopHearing();
      for (const page of pages) page.terminate();
      await app.close().catch(() => {});
      server.close();
    },
  };
}

// Next's production build is a server (`next start`), not a folder of static files: the
// deployment fallback, which serves a folder, cannot serve it yet (the service says so
// before it asks: layout.py's `no_deployment`).
export async function build() {
  throw new Error("a Next.js production build needs its own server (next start), which the deployment fallback does not run yet");
}
