// kontext-preview agent: runs one Vite dev server for one preview session.
//
// Started by a sandbox backend with one JSON argument (see AgentConfig in
// kontext_preview/sandbox/agent.py). It
//   * starts Vite through its JavaScript API with the file watcher turned off
//     (`server.watch: null`): no inotify per session, and no write lost to
//     chokidar's 50 ms per-file throttle;
//   * serves a control channel on a Unix socket in the session's folder
//     (`controlSocket`, JSON lines, guarded by a per-session token), through
//     which Python says exactly which files changed; they are replayed as
//     watcher events, which run Vite's normal HMR pipeline;
//   * reports on stdout, one JSON object per line: {"type":"ready"},
//     {"type":"log"}, {"type":"error"}, and later {"type":"ack"} (a page
//     applied change number `seq`) and {"type":"preview-error"} (a compile
//     error, or a runtime error a page reported).
// It exits when stdin closes (unless told not to, in a container), so it never outlives
// the process that started it.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { pathToFileURL } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import {
  clientSide,
  moduleGraphs,
  moveConfigBundles,
  onPageConnect,
  servedBase,
  stopFileWatching,
  warmsUpItself,
} from "./compat.mjs";

// The config is JSON, or "@file" naming a JSON file (the image build's).
const argument = process.argv[2] ?? "{}";
const config = JSON.parse(argument.startsWith("@") ? fs.readFileSync(argument.slice(1), "utf8") : argument);
const CLIENT_ID = "/@kontext/client";
const RESOLVED_CLIENT_ID = "\0kontext-client";
const STYLESHEET = /\.(css|scss|sass|less|styl|stylus|pcss)$/;
const CSS_MODULE = /\.module\.[a-z]+$/;

// The page's client module (page/client.js: CSS injection, acknowledgements, reloads where
// HMR cannot bring a page to what a fresh load shows, the page's errors) and the watchdog
// (page/watchdog.js), a classic script for pages whose modules never ran.
const PAGE_DIR = new URL("./page/", import.meta.url);
const CLIENT_CODE = fs.readFileSync(new URL("client.js", PAGE_DIR), "utf8");
const WATCHDOG_CODE = fs.readFileSync(new URL("watchdog.js", PAGE_DIR), "utf8").replace(/^(\/\/.*\n)+/, "");

// Everything the agent says is read by people and by the chat's AI, not by a terminal:
// Vite's and Rolldown's colours (terminal escapes) are taken out of every text field.
function emit(type, fields) {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, typeof v === "string" ? stripVTControlCharacters(v) : v]),
  );
  process.stdout.write(JSON.stringify({ type, ...plain }) + "\n");
}

function fail(message, err) {
  emit("error", { message, detail: err ? String(err.stack ?? err) : undefined });
  process.exit(1);
}

// Import a package the way the project itself would see it (the nearest
// node_modules above its root first), falling back to the prepared template.
// Looked up by folder: not every package exports its package.json.
async function importFrom(name, dirs) {
  for (const start of dirs) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const pkgDir = path.join(dir, "node_modules", name);
      if (fs.existsSync(path.join(pkgDir, "package.json"))) {
        const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
        const entry = exportEntry(pkg) ?? pkg.module ?? pkg.main ?? "index.js";
        return import(pathToFileURL(path.join(pkgDir, entry)).href);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  throw new Error(`cannot find package '${name}' from ${dirs.join(", ")}`);
}

function exportEntry(pkg) {
  let target = pkg.exports?.["."] ?? pkg.exports;
  while (target && typeof target === "object") {
    target = target.import ?? target.default ?? target.node;
  }
  return typeof target === "string" ? target : undefined;
}

// Every change the agent shows gets a number (seq). Pages are told it before
// Vite's own messages, and acknowledge it once the change is applied: the ack
// arrives here over the HMR socket and is reported on stdout with the time it
// arrived, so the server can compute update → browser latency.
let seq = 0;
const shownAt = new Map();

function announce(server, reload = false, removed = []) {
  seq += 1;
  shownAt.set(seq, now());
  if (shownAt.size > 1000) shownAt.delete(shownAt.keys().next().value);
  server.ws.send({ type: "custom", event: "kontext:update", data: { seq, reload, removed } });
  return seq;
}

// The dev server is about to be replaced (the session's dependencies or layout changed):
// the pages are told that change `number` (the server's, negative: no agent numbers its
// own changes so) comes as a reload, which they acknowledge to the next agent once loaded.
function announceRestart(server, number) {
  server.ws.send({ type: "custom", event: "kontext:update", data: { seq: number, reload: true } });
  return { affected: [], seq: number, clients: server.ws.clients.size };
}

// Files whose change makes Vite restart its dev server (as its own watcher handling does):
// the config file, what it imports, and the env files of the mode.
function restartsVite(server, file) {
  const resolved = server.config;
  if (file === resolved.configFile || (resolved.configFileDependencies ?? []).includes(file)) return true;
  const envDir = resolved.envDir ?? resolved.root;
  const name = path.basename(file);
  return path.dirname(file) === path.resolve(envDir) && (name === ".env" || name === ".env.local" || name === `.env.${resolved.mode}` || name === `.env.${resolved.mode}.local`);
}

function isPublicFile(server, file) {
  const publicDir = server.config.publicDir;
  return Boolean(publicDir) && file.startsWith(path.resolve(publicDir) + path.sep);
}

function now() {
  return performance.timeOrigin + performance.now();
}

// Replays changes as watcher events; answers which of them reach browsers:
// files Vite had loaded, and HTML pages (Vite answers those with a full reload).
// `fresh`: the whole project was just put in place of a warm dev server's sample, which no
// page has seen: the reloads Vite would keep for the next page to connect are pointless
// (it loads the project anyway) and would load it twice.
let freshProject = false;

function notify(server, changes, fresh = false) {
  freshProject = fresh;
  const graph = clientSide(server).moduleGraph;
  const affected = [];
  const files = [];
  let restarts = false;
  let reload = false;
  for (const change of changes) {
    const file = path.resolve(config.workspace, change.path);
    if (!file.startsWith(config.workspace + path.sep)) continue;
    const restart = restartsVite(server, file);
    restarts ||= restart;
    const loaded = graph.getModulesByFile(file)?.size > 0;
    // A public/ file no module imports (fetched at runtime, <img src="/x.png">): Vite's
    // HMR has nothing to update, so the page reloads to show it as a fresh load would.
    const fetched = !loaded && !restart && isPublicFile(server, file);
    reload ||= fetched;
    if (restart || loaded || fetched || file.endsWith(".html")) affected.push(change.path);
    files.push([change.event, file]);
  }
  // Modules of deleted files: Vite sends pages an update for one that accepted itself, which
  // cannot be fetched any more; the pages are told not to take that for a failure (what
  // still imports it fails, and says so).
  const removed = files.filter(([event]) => event === "unlink").flatMap(([, file]) => [...(graph.getModulesByFile(file) ?? [])].map((m) => m.url));
  const number = affected.length ? announce(server, restarts || reload, removed) : null;
  // Invalidate now, not when Vite's (async) watcher handling gets there: a request that
  // follows the answer must get the new file (Vite's own handling repeats it, harmlessly).
  for (const [event, file] of files) {
    if (event === "add") continue;
    for (const moduleGraph of moduleGraphs(server)) moduleGraph.onFileChange(file);
  }
  for (const [event, file] of files) server.watcher.emit(event, file);
  if (reload && !restarts) server.ws.send({ type: "full-reload", path: "*" });
  for (const [event, file] of files) if (event !== "unlink" && file.endsWith(".html")) warmPage(server, file);
  return { affected, seq: number, clients: server.ws.clients.size };
}

// A changed page (a whole new project, when a session takes over a warm dev server):
// transform its module scripts now, and with them what they import (Vite pre-transforms
// static imports), so the next page load finds the app ready, as a start's warmup would.
function warmPage(server, file) {
  const relative = path.relative(config.root, file);
  if (relative.startsWith("..")) return;
  let html;
  try {
    html = fs.readFileSync(file, "utf8");
  } catch {
    return;
  }
  const folder = "/" + path.dirname(relative).split(path.sep).filter((p) => p && p !== ".").map((p) => p + "/").join("");
  for (const [, src] of html.matchAll(/<script[^>]*type=["']?module["']?[^>]*src=["']([^"']+)["']/g)) {
    if (/^[a-z]+:|^\/\//i.test(src)) continue; // another origin
    const url = src.startsWith("/") ? src : folder + src;
    clientSide(server).warmupRequest(url).catch(() => {});
  }
}

// The modules a page loaded before this dev server started (a wake: the page comes from its
// snapshot): transformed now, so that this server's module graph knows what the page runs
// (HMR finds its boundaries, lazy routes included) and later requests find them ready.
function warmModules(server, urls) {
  const side = clientSide(server);
  for (const url of urls) side.warmupRequest(url).catch(() => {});
}

// Page-facing paths: a module URL (/src/App.jsx?t=1) → the project's file name.
function projectPath(url) {
  if (!url) return undefined;
  let pathname = String(url);
  try { pathname = new URL(pathname, "http://x").pathname; } catch { return undefined; }
  pathname = decodeURIComponent(pathname);
  if (pathname.startsWith(base)) pathname = "/" + pathname.slice(base.length);
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
function watchPagePayloads(server) {
  const side = clientSide(server);
  const hot = server.ws;
  const send = hot.send.bind(hot);
  onPageConnect(server, () => (freshProject = false));
  hot.send = (payload, ...rest) => {
    if (payload?.type === "full-reload" && freshProject && server.ws.clients.size === 0) return;
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
      // Oxc/Rolldown put the position only in the message: "╭─[ src/App.tsx:3:1 ]".
      const at = /\[\s*([^\]\s]+):(\d+):(\d+)\s*\]/.exec(message);
      emit("preview-error", {
        kind: "compile",
        message: message.slice(0, 4000),
        file: errorFile(err, message),
        line: err.loc?.line ?? (at ? Number(at[2]) : undefined),
        column: err.loc?.column ?? (at ? Number(at[3]) : undefined),
        frame: err.frame ? String(err.frame).slice(0, 2000) : undefined,
        plugin: err.plugin,
      });
    }
    return send(payload, ...rest);
  };
}

function listenToPages(server) {
  // Each page acknowledges a change once (its `page` id); every page's is reported, with
  // the time it arrived less the page's settling wait (`settledMs`: the page looked for an
  // error before it answered), so the service counts the pages a change reached.
  const acked = new Map(); // seq -> pages that acknowledged it
  server.ws.on("kontext:ack", async (data) => {
    // A page loaded again for this dev server's start: its reload (a restart the agent before
    // this one announced, negative; "launch" from a status page or a page the proxy held)
    // acknowledges the update that started it (launchSeq), if one did.
    const loadedAgain = data?.kind === "reload" || data?.kind === "error";
    const forStart = loadedAgain && (data?.seq === "launch" || Number(data?.seq) < 0);
    if (forStart && config.launchSeq == null && data?.seq === "launch") return;
    const number = forStart ? Number(config.launchSeq ?? data?.seq) : Number(data?.seq);
    const sent = shownAt.get(number);
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
    if (error) emit("preview-error", { seq: number, ...(await updateError(server, error)) });
    emit("ack", { seq: number, kind: String(data?.kind ?? "update"), at, page, sinceShownMs: sent === undefined ? undefined : at - sent });
  });
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
      served = (pathname.startsWith(base) ? "/" + pathname.slice(base.length) : pathname) + search;
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
    if (shownAt.has(number)) emit("reloading", { seq: number });
  });
  server.ws.on("kontext:console", async (data) => {
    const [, url, line, column] = /(https?:\/\/[^\s)]+?):(\d+):(\d+)/.exec(String(data?.caller ?? "")) ?? [];
    const file = url ? projectPath(url) : undefined;
    const at = file ? await sourcePosition(server, url, Number(line), Number(column)) : {};
    consoleOut.add({ level: data?.level === "error" ? "error" : "warn", message: String(data?.message ?? "").slice(0, 2000), file, ...at });
  });
  server.ws.on("kontext:error", async (data) => {
    const at = Number.isInteger(data?.line) && projectPath(data?.url)
      ? await sourcePosition(server, data.url, data.line, Number(data?.column) || 1)
      : {};
    emit("preview-error", {
      kind: "runtime",
      message: String(data?.message ?? "error").slice(0, 4000),
      file: projectPath(data?.url),
      line: at.line,
      column: at.column,
      stack: data?.stack ? String(data.stack).slice(0, 4000) : undefined,
    });
  });
}

// Why a page could not apply an update, as exactly as can be known: where the browser's
// error points into a project module (its stack's first project frame); for a name a module
// does not export, the line that imports it; and when the page could not fetch the module
// at all (Vite's client does not say why), the server's own error transforming it.
async function updateError(server, report) {
  const module = projectPath(report.path);
  const out = { kind: "update", message: report.message ?? `could not apply the update of ${module ?? report.path}`, file: module, stack: report.stack };
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
    const served = pathname.startsWith(base) ? "/" + pathname.slice(base.length) : pathname;
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
    const message = String(err?.message ?? err);
    return {
      message: message.slice(0, 4000),
      file: errorFile(err, message) ?? module,
      line: err?.loc?.line, column: err?.loc?.column,
      frame: err?.frame ? String(err.frame).slice(0, 2000) : undefined,
      plugin: err?.plugin,
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
const consoleOut = {
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
// normal watcher path instead.
async function inject(server, paths) {
  const env = clientSide(server);
  const styles = [];
  const rest = [];
  for (const relative of paths) {
    const file = path.resolve(config.workspace, relative);
    const compiled = file.startsWith(config.workspace + path.sep) && STYLESHEET.test(file) && !CSS_MODULE.test(file)
      ? await compiledStyles(env, file)
      : null;
    for (const style of compiled ?? []) { // a root reached twice: its newest compile
      const at = styles.findIndex((s) => s.id === style.id);
      if (at >= 0) styles.splice(at, 1);
      styles.push(style);
    }
    if (!compiled) rest.push({ path: relative, event: "change" });
  }
  const number = styles.length ? ++seq : null;
  if (styles.length) {
    shownAt.set(number, now());
    server.ws.send({ type: "custom", event: "kontext:css", data: { styles, seq: number } });
  }
  const others = rest.length ? notify(server, rest) : { affected: [], seq: null };
  return {
    injected: paths.filter((p) => !rest.some((r) => r.path === p)),
    affected: others.affected,
    seq: number ?? others.seq,
    clients: server.ws.clients.size,
  };
}

// What the page loaded for a changed stylesheet: the stylesheets imported by modules (the
// file itself, or those that reach it through `@import` or a preprocessor's partials, as
// Vite's module graph records them), recompiled. null hands the file to Vite's HMR: it is
// not loaded yet, or it is loaded as something else too (`?raw`, `?inline`, `?url`: a
// string or a URL, not a page stylesheet), or a CSS module reaches it (`composes`).
async function compiledStyles(env, file) {
  const graph = env.moduleGraph;
  const modules = [...(graph.getModulesByFile(file) ?? [])];
  if (modules.length === 0 || modules.some((m) => m.url.includes("?"))) return null;
  const roots = new Set();
  const chain = new Set();
  const walk = (module) => {
    if (chain.has(module)) return true;
    chain.add(module);
    if (module.importers.size === 0) return false;
    for (const importer of module.importers) {
      const stylesheet = importer.file && STYLESHEET.test(importer.file);
      if (!stylesheet) roots.add(module);
      else if (CSS_MODULE.test(importer.file) || importer.url.includes("?") || !walk(importer)) return false;
    }
    return true;
  };
  if (!modules.every(walk) || roots.size === 0) return null;
  for (const module of chain) graph.invalidateModule(module);
  const styles = [];
  for (const root of roots) {
    const result = await env.transformRequest(root.url);
    const id = /const __vite__id = ("(?:[^"\\]|\\.)*")/.exec(result?.code ?? "");
    const css = /const __vite__css = ("(?:[^"\\]|\\.)*")/.exec(result?.code ?? "");
    if (!id || !css) return null;
    styles.push({ id: JSON.parse(id[1]), css: JSON.parse(css[1]) });
  }
  return styles;
}

// The served base (`base` of the project's config): the injected client is requested under it.
let base = "/";

function controlPlugin() {
  return {
    name: "kontext-preview-agent",
    configResolved(resolved) {
      base = servedBase(resolved);
      // Vite's mergeConfig skips null values, so the inline `watch: null` is lost whenever
      // the project's own config has a `server` section (AI builders' templates set
      // `server.host`/`port`): set it on the resolved config, which the dev server reads next.
      resolved.server.watch = null;
      // The HMR socket's token (Vite 6.0.9+, 5.4.12+, 4.5.6+) is random per start unless set:
      // the session's own keeps a page loaded before a restart (its snapshot after a wake,
      // see recordPageLoad) able to connect to the next dev server.
      if (config.wsToken && typeof resolved.webSocketToken === "string") resolved.webSocketToken = config.wsToken;
    },
    resolveId(id) {
      return id === CLIENT_ID ? RESOLVED_CLIENT_ID : undefined;
    },
    load(id) {
      return id === RESOLVED_CLIENT_ID ? CLIENT_CODE : undefined;
    },
    transformIndexHtml() {
      return [
        { tag: "script", children: WATCHDOG_CODE, injectTo: "head-prepend" },
        { tag: "script", attrs: { type: "module", src: base + CLIENT_ID.slice(1) }, injectTo: "head-prepend" },
      ];
    },
    configureServer(server) {
      current = server; // Vite makes a new server when it restarts (vite.config changed)
      if (stopFileWatching(server)) {
        emit("log", { level: "info", message: "this Vite started a file watcher despite watch: null (4.x); it was closed (changes come from the agent)" });
      }
      // ...and listens again with server.listen(port): on a socket, that must be ours.
      if (config.socket) server.listen = async () => (await listenOnSocket(server, config.socket), server);
      watchPagePayloads(server);
      listenToPages(server);
      server.middlewares.use(recordPageLoad);
      server.middlewares.use(clientInErrorPages);
    },
  };
}

// Vite answers a page it cannot make (a plugin or the PostCSS config failing on its HTML)
// with an error page of its own, which loads Vite's client but not ours: ours is put in it,
// so that the page acknowledges the change it was loaded for (as an error, with the overlay's
// message) and follows the next one like any page (issue 29).
function clientInErrorPages(req, res, next) {
  if (req.method !== "GET" || !String(req.headers.accept ?? "").includes("text/html")) return next();
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    const page = typeof chunk === "string" ? chunk : null;
    if (res.statusCode >= 500 && page?.includes("<head>") && !page.includes(CLIENT_ID)) {
      const client = `<script type="module" src="${base}${CLIENT_ID.slice(1)}"></script>`;
      return end(page.replace("<head>", `<head>${client}`), ...rest);
    }
    return end(chunk, ...rest);
  };
  next();
}

// What pages have loaded (issue 19): the requests a snapshot of the page keeps for a fast
// wake (the service fetches each again before the dev server stops, see
// kontext_preview/snapshots.py). Kept across page loads, the most recent last, at most
// PAGE_LOAD_MAX_REQUESTS: a reload takes the pre-bundled dependencies from the browser's
// cache (Vite serves them immutable) and asks only for the rest. A navigation
// (Sec-Fetch-Dest document or iframe) is the page a wake shows. The service's own fetches
// (x-kontext-snapshot) are not recorded.
const PAGE_LOAD_MAX_REQUESTS = 2000;
const pageRequests = new Map();

function recordPageLoad(req, res, next) {
  const headers = req.headers;
  if (req.method === "GET" && !headers["x-kontext-snapshot"] && !headers.upgrade) {
    const dest = headers["sec-fetch-dest"];
    const navigation = dest === "document" || dest === "iframe" || (!dest && /text\/html/.test(headers.accept ?? ""));
    const request = { url: req.url, accept: headers.accept, dest, navigation };
    res.once("finish", () => {
      if (res.statusCode !== 200 && res.statusCode !== 304) return;
      const key = `${request.url}\n${request.accept}`;
      pageRequests.delete(key);
      pageRequests.set(key, request);
      if (pageRequests.size > PAGE_LOAD_MAX_REQUESTS) pageRequests.delete(pageRequests.keys().next().value);
    });
  }
  next();
}

// The control channel: a Unix socket in the session's folder, one JSON object a line each
// way. The first line must carry the session's token; then each request
// {"id", "action": "notify"|"inject"|"health", ...} gets {"id", ...answer} or {"id", "error"}.
// A persistent connection costs a fraction of an HTTP request per change.
let current = null;
const actions = {
  notify: ({ changes, fresh }) => notify(current, changes, Boolean(fresh)),
  inject: ({ paths }) => inject(current, paths),
  health: () => ({ ok: true }),
  memory: () => memoryReport(current),
  "page-load": () => ({ requests: [...pageRequests.values()] }),
  "announce-restart": ({ seq: number }) => announceRestart(current, Number(number)),
};

// An idle dev server gives back what its last burst of work left on V8's heap (issue 19):
// a full collection IDLE_GC_MS after the last page request or control call. V8 collects
// when allocation needs it, which an idle server never does (the template app idle: 68 MB
// of heap used before, about 25 after). `gc` is exposed for this (v8.setFlagsFromString).
const IDLE_GC_MS = 10_000;
let idleTimer = null;

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(collectGarbage, IDLE_GC_MS);
  idleTimer.unref();
}

function collectGarbage() {
  v8.setFlagsFromString("--expose-gc");
  vm.runInNewContext("gc")();
}

// Where the dev server's memory goes (issue 19): the process's (bytes), V8's heap, its
// threads, and what the module graph keeps (modules, transform results' code and maps).
function memoryReport(server) {
  const usage = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  let modules = 0;
  let code = 0;
  let maps = 0;
  for (const graph of moduleGraphs(server)) {
    for (const module of graph.idToModuleMap.values()) {
      modules += 1;
      code += module.transformResult?.code?.length ?? 0;
      const map = module.transformResult?.map;
      maps += map ? JSON.stringify(map).length : 0;
    }
  }
  const threads = /Threads:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1];
  return {
    rss: usage.rss,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    mallocedMemory: heap.malloced_memory,
    threads: Number(threads),
    modules,
    transformCode: code,
    transformMaps: maps,
  };
}

function serveControl(socketPath) {
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
          trusted = safeJson(line)?.token === config.token;
          if (!trusted) return conn.destroy();
          continue;
        }
        queue = queue.then(() => answer(conn, safeJson(line)));
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

async function answer(conn, request) {
  if (request?.action !== "health" && request?.action !== "memory") touched();
  const action = actions[request?.action];
  let reply;
  try {
    if (!action) throw new Error(`unknown action ${request?.action}`);
    reply = await action(request);
  } catch (err) {
    reply = { error: String(err?.message ?? err) };
  }
  conn.write(JSON.stringify({ id: request?.id, ...reply }) + "\n");
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function createForwardingLogger(createLogger) {
  const logger = createLogger("info", { allowClearScreen: false });
  for (const level of ["info", "warn", "error"]) {
    const original = logger[level].bind(logger);
    logger[level] = (msg, options) => {
      emit("log", { level, message: String(msg) });
      if (level === "error") original(msg, options);
    };
  }
  logger.warnOnce = (msg) => emit("log", { level: "warn", message: String(msg) });
  return logger;
}

// The dev server every mode shares (the image's cache prebuild must match it exactly:
// Vite keys its dependency cache by the root path, the config and the plugins' names).
async function createDevServer(vite) {
  const lookup = [config.root, config.templateDir];
  const hmrSocket = { clientPort: config.wsClientPort, path: config.wsPath, protocol: config.wsProtocol };
  const plugins = [controlPlugin()];
  if (config.addReactPlugin) {
    const react = await importFrom("@vitejs/plugin-react", lookup);
    plugins.push(react.default());
  }
  return vite.createServer({
    root: config.root,
    cacheDir: config.cacheDir,
    clearScreen: false,
    customLogger: createForwardingLogger(vite.createLogger),
    plugins,
    server: {
      host: config.bindHost ?? "127.0.0.1",
      port: config.port,
      strictPort: true,
      watch: null,
      // Transform the app (index.html and what it imports) right after start, so the
      // first page load after a start or a wake-up finds it ready.
      warmup: { clientFiles: ["./index.html"] },
      allowedHosts: [config.publicHost],
      // The HMR socket as browsers reach it (through the proxy): `server.ws` on 8.1+,
      // `server.hmr` before (8.1+ read it too, as a deprecated alias).
      ws: hmrSocket,
      hmr: hmrSocket,
      // The project's node_modules may be a link to one of the prepared templates.
      fs: { allow: [config.workspace, config.templateDir, ...(config.templateDirs ?? [])] },
    },
  });
}

async function main() {
  prepareWritableDirs();
  moveConfigBundles(configBundles());
  const vite = await importFrom("vite", [config.root, config.templateDir]);
  seedDepsCache();
  const server = await createDevServer(vite);
  try {
    if (config.socket) await listenOnSocket(server, config.socket);
    else await server.listen();
  } catch (err) {
    await server.close().catch(() => {});
    throw err;
  }
  if (config.controlSocket) await serveControl(config.controlSocket);
  if (!warmsUpItself(server)) warmPage(server, path.join(config.root, "index.html"));
  warmModules(server, config.warmUrls ?? []);
  server.httpServer?.on("request", touched);
  touched();
  emit("ready", { port: config.port, socket: config.socket, viteVersion: vite.version });

  const shutdown = async () => {
    await server.close().catch(() => {});
    process.exit(0);
  };
  // A local agent dies with the process that started it (its stdin closes); a container's
  // agent has no stdin and is stopped with SIGTERM.
  if (config.exitOnStdinEnd !== false) {
    process.stdin.on("end", shutdown);
    process.stdin.on("error", shutdown);
    process.stdin.resume();
  }
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

// In a container the dev server has no network: it listens on a Unix socket in a folder
// shared with the host, which the node publishes on a loopback port. Vite's own listen()
// only takes ports, so its HTTP server (the HMR socket rides on it) is bound here.
function listenOnSocket(server, socket) {
  fs.rmSync(socket, { force: true });
  return new Promise((resolve, reject) => {
    server.httpServer.once("error", reject);
    server.httpServer.listen(socket, () => {
      server.httpServer.off("error", reject);
      fs.chmodSync(socket, 0o666);
      resolve();
    });
  });
}

// A container's file system is read-only but for a tmpfs: Vite's dependency cache
// (cacheDir) and the folder it bundles vite.config into (node_modules/.vite-temp, a
// symlink to tempDir/vite-temp in the image) must exist there.
function prepareWritableDirs() {
  if (config.tempDir) fs.mkdirSync(path.join(config.tempDir, "vite-temp"), { recursive: true });
  fs.mkdirSync(config.cacheDir, { recursive: true });
}

// The image carries Vite's pre-bundled dependencies for the usual project shapes, built at
// the same absolute root path every container uses. Seeding the session's cache with the
// matching one lets Vite skip the pre-bundling ("Hash is consistent"); if the project
// differs, Vite notices (lockfile, config, plugins) and rebuilds, as it would anyway.
function seedDepsCache() {
  if (!config.prebuiltCacheDir) return;
  const source = path.join(config.prebuiltCacheDir, cacheKey(config.root, hasConfigFile(config.root)));
  const target = path.join(config.cacheDir, "deps");
  if (!fs.existsSync(path.join(source, "deps", "_metadata.json"))) return;
  if (fs.existsSync(path.join(target, "_metadata.json"))) return;
  fs.cpSync(path.join(source, "deps"), target, { recursive: true });
  emit("log", { level: "info", message: `dependency cache seeded from the image (${path.basename(source)})` });
}

// Where Vite 4.x/5.x's bundled vite.config goes (see compat.mjs): never the project's folder.
function configBundles() {
  return path.join(config.tempDir ?? config.cacheDir ?? os.tmpdir(), "vite-config");
}

function cacheKey(root, withConfig) {
  return root.replace(/^\/+/, "").replace(/[^A-Za-z0-9]+/g, "_") + (withConfig ? "--config" : "--plain");
}

function hasConfigFile(root) {
  return fs.readdirSync(root).some((name) => /^vite\.config\.(js|mjs|cjs|ts|mts|cts)$/.test(name));
}

// Image mode (`"mode": "image"`, run once while the sandbox image is built, as root): the
// templates' node_modules (the Vite template's and each stack template's), the few writable
// places a read-only container needs, then the dependency cache (optimize).
async function image() {
  if (!fs.existsSync(path.join(config.templateDir, "node_modules", "vite"))) npmCi(config.templateDir);
  if (!fs.existsSync(path.join(config.deployerDir, "node_modules", "motoko"))) npmCi(config.deployerDir);
  const agentDir = path.dirname(new URL(import.meta.url).pathname);
  if (!fs.existsSync(path.join(agentDir, "node_modules", "npm-package-arg"))) npmCi(agentDir);
  const stacks = config.stacksDir ? fs.readdirSync(config.stacksDir).map((n) => path.join(config.stacksDir, n)) : [];
  for (const dir of stacks) if (!fs.existsSync(path.join(dir, "node_modules"))) npmCi(dir);
  for (const dir of [config.templateDir, ...stacks]) {
    fs.symlinkSync(path.join(config.tempDir, "vite-temp"), path.join(dir, "node_modules", ".vite-temp"));
  }
  fs.mkdirSync(config.npmCache, { recursive: true });
  fs.chmodSync(config.npmCache, 0o1777); // a new cache volume starts as this folder is
  await optimize();
  for (const leftover of config.removeAfter) fs.rmSync(leftover, { recursive: true, force: true });
}

// A build context without the template's or the deployer's node_modules (no `make template`
// before, as in docker compose): install them here, from their lock files, with install
// scripts disabled.
function npmCi(folder) {
  const npm = path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");
  const args = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier"];
  const result = spawnSync(process.execPath, args, { cwd: folder, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`npm ci in ${folder} failed (${result.status ?? result.error})`);
}

// Optimize mode (`"mode": "optimize"`, run while the image is built): for each root, put
// the sample app there (with and without a vite.config), start the same dev server a
// session would, wait until Vite has pre-bundled the app's dependencies, and keep the
// result in prebuiltCacheDir/<key>.
async function optimize() {
  const vite = await importFrom("vite", [config.templateDir]);
  for (const root of config.roots) {
    for (const withConfig of [true, false]) {
      fs.rmSync(root, { recursive: true, force: true });
      fs.cpSync(config.sample, root, { recursive: true });
      if (!withConfig) fs.rmSync(path.join(root, "vite.config.ts"));
      fs.symlinkSync(path.join(config.templateDir, "node_modules"), path.join(root, "node_modules"));
      const cacheDir = path.join(config.prebuiltCacheDir, cacheKey(root, withConfig));
      Object.assign(config, { root, workspace: root, cacheDir, addReactPlugin: !withConfig });
      prepareWritableDirs();
      const server = await createDevServer(vite);
      await server.listen();
      for (const url of ["/src/main.tsx", "/src/App.tsx"]) await server.warmupRequest(url);
      await settled(path.join(cacheDir, "deps"));
      await server.close();
      fs.rmSync(root, { recursive: true, force: true });
      emit("log", { level: "info", message: `pre-bundled ${root} (${withConfig ? "vite.config" : "no config"})` });
    }
  }
}

// Wait until Vite has written its metadata and stopped re-bundling for a moment.
async function settled(depsDir) {
  let last = "";
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const meta = path.join(depsDir, "_metadata.json");
    const now = fs.existsSync(meta) ? fs.readFileSync(meta, "utf8") : "";
    const busy = fs.readdirSync(path.dirname(depsDir)).some((n) => n.startsWith("deps_temp"));
    if (now && now === last && !busy) return;
    last = now;
  }
  throw new Error(`Vite did not finish pre-bundling in ${depsDir}`);
}

// Build mode (`"mode": "build"`): a production `vite build` of the same project with
// the same plugins, for the local deployer; emits {"type":"built"} and exits.
async function build() {
  prepareWritableDirs();
  moveConfigBundles(configBundles());
  const lookup = [config.root, config.templateDir];
  const vite = await importFrom("vite", lookup);
  const plugins = [];
  if (config.addReactPlugin) {
    const react = await importFrom("@vitejs/plugin-react", lookup);
    plugins.push(react.default());
  }
  await vite.build({
    root: config.root,
    cacheDir: config.cacheDir,
    base: "/",
    clearScreen: false,
    logLevel: "info",
    customLogger: createForwardingLogger(vite.createLogger),
    plugins,
    build: { outDir: config.outDir, emptyOutDir: true },
  });
  emit("built", { outDir: config.outDir, viteVersion: vite.version });
}

const modes = { build, optimize, image };
(modes[config.mode] ? modes[config.mode]().then(() => process.exit(0)) : main()).catch((err) => {
  if (err?.code === "EADDRINUSE") fail(`port ${config.port} is already in use`, err);
  fail(err?.message ?? String(err), err);
});
