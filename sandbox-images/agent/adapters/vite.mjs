// The Vite adapter: runs the project's Vite dev server through Vite's JavaScript API, with
// its file watcher turned off (`server.watch: null`: no inotify per session, and no write lost
// to chokidar's 50 ms per-file throttle). The files the service says changed are replayed as
// watcher events, which run Vite's own HMR pipeline; stylesheets are recompiled and pushed
// into the pages; the page client (page/client.js) is served at /@kontext/client and put
// first in every page's <head>, with the watchdog (page/watchdog.js); the pages' messages come
// back through vite-pages.mjs. A dev-server adapter (dev-server.mjs says the contract)
// exports `start(config)` and `build(config)`; this is the first.
//
// Vite 4.x to 8.x: what differs between majors is found by feature in vite-compat.mjs.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { emit } from "../protocol.mjs";
import { importFrom } from "../packages.mjs";
import {
  clientSide,
  moduleGraphs,
  moveConfigBundles,
  servedBase,
  stopFileWatching,
  warmsUpItself,
} from "./vite-compat.mjs";
import { listenToPages, watchPagePayloads } from "./vite-pages.mjs";
import { config, configure, now, state } from "./vite-state.mjs";

export const CLIENT_ID = "/@kontext/client"; // where pages load the page client (under base)
const RESOLVED_CLIENT_ID = "\0kontext-client";
const STYLESHEET = /\.(css|scss|sass|less|styl|stylus|pcss)$/;
const CSS_MODULE = /\.module\.[a-z]+$/;

// The page's client module (page/client.js: CSS injection, acknowledgements, reloads where
// HMR cannot bring a page to what a fresh load shows, the page's errors) and the watchdog
// (page/watchdog.js), a classic script for pages whose modules never ran.
const PAGE_DIR = new URL("../page/", import.meta.url);
const CLIENT_CODE = fs.readFileSync(new URL("client.js", PAGE_DIR), "utf8");
const WATCHDOG_CODE = fs.readFileSync(new URL("watchdog.js", PAGE_DIR), "utf8").replace(/^(\/\/.*\n)+/, "");

// The dev server now serving (Vite makes a new one when it restarts: vite.config changed).
let current = null;

// Every change the agent shows gets a number (seq). Pages are told it before
// Vite's own messages, and acknowledge it once the change is applied: the ack
// arrives here over the HMR socket and is reported on stdout with the time it
// arrived, so the server can compute update → browser latency.
let seq = 0;

function announce(server, reload = false, removed = []) {
  seq += 1;
  state.shownAt.set(seq, now());
  if (state.shownAt.size > 1000) state.shownAt.delete(state.shownAt.keys().next().value);
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
// Replays changes as watcher events; answers which of them reach browsers:
// files Vite had loaded, and HTML pages (Vite answers those with a full reload).
// `fresh`: the whole project was just put in place of a warm dev server's sample, which no
// page has seen: the reloads Vite would keep for the next page to connect are pointless
// (it loads the project anyway) and would load it twice.

function notify(server, changes, fresh = false) {
  state.fresh = fresh;
  const graph = clientSide(server).moduleGraph;
  const graphs = moduleGraphs(server);
  const affected = [];
  const files = [];
  let restarts = false;
  let reload = false;
  for (const change of changes) {
    const file = path.resolve(config.workspace, change.path);
    if (!file.startsWith(config.workspace + path.sep)) continue;
    const restart = restartsVite(server, file) || Boolean(state.restartsOn?.(file));
    restarts ||= restart;
    // Loaded by the pages, or by the server to render them (a framework's server-only
    // module: an .astro page, a +page.server.ts): either way what a page shows may change.
    const loaded = graphs.some((g) => g.getModulesByFile(file)?.size > 0);
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
    for (const moduleGraph of graphs) moduleGraph.onFileChange(file);
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

// normal watcher path instead.
async function inject(server, paths) {
  const env = clientSide(server);
  const styles = [];
  const rest = [];
  for (const relative of paths) {
    const file = path.resolve(config.workspace, relative);
    const compiled = file.startsWith(config.workspace + path.sep) && STYLESHEET.test(file) && !CSS_MODULE.test(file)
      ? await compiledStyles(server, env, file)
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
    state.shownAt.set(number, now());
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

// What the page loaded for a changed stylesheet: the stylesheets imported by modules, or
// by the page itself (a framework's `<script type="module" src="….css">` beside the same
// stylesheet rendered into the page on the server: Astro's), the file itself or those that
// reach it through `@import` or a preprocessor's partials (as Vite's module graph records
// them), recompiled. null hands the file to Vite's HMR: it is not loaded yet, or it is
// loaded as something else too (`?raw`, `?inline`, `?url`: a string or a URL, not a page
// stylesheet), or a CSS module reaches it (`composes`). The server's graphs (a framework's
// server rendering) forget it too, so that a page loaded next renders the new one.
async function compiledStyles(server, env, file) {
  const graph = env.moduleGraph;
  const modules = [...(graph.getModulesByFile(file) ?? [])];
  if (modules.length === 0 || modules.some((m) => m.url.includes("?"))) return null;
  const roots = new Set();
  const chain = new Set();
  const walk = (module) => {
    if (chain.has(module)) return true;
    chain.add(module);
    if (module.importers.size === 0) {
      if (!pageModules.has(module.url)) return false; // imported once, by nothing now
      roots.add(module);
      return true;
    }
    for (const importer of module.importers) {
      const stylesheet = importer.file && STYLESHEET.test(importer.file);
      if (!stylesheet) roots.add(module);
      else if (CSS_MODULE.test(importer.file) || importer.url.includes("?") || !walk(importer)) return false;
    }
    return true;
  };
  if (!modules.every(walk) || roots.size === 0) return null;
  for (const module of chain) {
    for (const any of moduleGraphs(server)) {
      for (const same of any.getModulesByFile(module.file) ?? []) any.invalidateModule(same);
    }
  }
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

export function controlPlugin() {
  return {
    name: "kontext-preview-agent",
    configResolved(resolved) {
      state.base = servedBase(resolved);
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
        { tag: "script", attrs: { type: "module", src: clientSrc() }, injectTo: "head-prepend" },
      ];
    },
    configureServer(server) {
      // A server without an HTTP server of its own (middleware mode) is a framework's
      // helper, not the one pages reach: Astro's content sync makes one (with the project's
      // plugins, ours among them) as it starts and restarts.
      if (!server.httpServer) return;
      current = server; // Vite makes a new server when it restarts (vite.config changed)
      if (stopFileWatching(server)) {
        emit("log", { level: "info", message: "this Vite started a file watcher despite watch: null (4.x); it was closed (changes come from the agent)" });
      }
      // ...and listens again with server.listen(port): on a socket, that must be ours.
      if (config.socket) server.listen = async () => (await listenOnSocket(server, config.socket), server);
      watchPagePayloads(server);
      listenToPages(server);
      server.middlewares.use(recordPageLoad);
      server.middlewares.use(injectIntoPages(viteClientTags, CLIENT_ID));
    },
  };
}

function clientSrc() {
  return state.base + CLIENT_ID.slice(1);
}

const viteClientTags = () => `<script>${WATCHDOG_CODE}</script><script type="module" src="${clientSrc()}"></script>`;

// Every HTML page the dev server answers gets the page client first in its <head>. Vite's
// own pages (index.html) have it already, through transformIndexHtml; pages a framework
// renders itself (SvelteKit, React Router: on the server, often streamed, never through
// transformIndexHtml) and the error page Vite answers a page it cannot make with do not:
// they get it here, as they stream out. The page's start is held until its <head> tag has
// gone by (at most HEAD_WITHIN bytes), in bytes (a UTF-8 character split across chunks is
// never decoded); a page that sets its length loses it (sent chunked instead).
const HEAD_WITHIN = 64 * 1024;

// A body chunk as bytes: a Buffer, a Uint8Array (SvelteKit writes a web stream's), or text.
function asBuffer(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), typeof encoding === "string" ? encoding : "utf8");
}

// `tags`: what goes in (the page client's <script> tags); `marker`: text that says a page
// has them already. A framework's adapter makes its own (adapters/next.mjs).
export function injectIntoPages(tags, marker) {
  return (req, res, next) => injectInto(req, res, next, tags, marker);
}

function injectInto(req, res, next, tags, marker) {
  if (req.method !== "GET" || !String(req.headers.accept ?? "").includes("text/html")) return next();
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const writeHead = res.writeHead.bind(res);
  let held = [];
  let size = 0;
  let passing = false; // decided: injected, or nothing to inject into
  // An HTML answer, or one that says no type (Vite's error page): the latter only gets the
  // client where it has a <head>.
  const type = () => res.getHeader("content-type");
  const isPage = () => type() === undefined || /^text\/html/i.test(String(type()));
  // Give the held start out, with the client in it unless the page has it already.
  // (null: not yet, its <head> has not gone by).
  const release = (final) => {
    const page = Buffer.concat(held);
    const head = ["<head>", "<head "].map((tag) => page.indexOf(tag)).filter((at) => at >= 0);
    const close = head.length ? page.indexOf(">", Math.min(...head)) : -1;
    if (close < 0 && !final && size < HEAD_WITHIN && !page.includes(marker)) return null;
    passing = true;
    held = [];
    // Nothing to put it in (a 304, an empty answer, an untyped answer without a <head>), or
    // it is there already.
    if (page.length === 0 || page.includes(marker) || (close < 0 && type() === undefined)) return page;
    const inserted = Buffer.from(tags());
    if (!res.headersSent) res.removeHeader("content-length");
    const at = close >= 0 ? close + 1 : 0;
    return Buffer.concat([page.subarray(0, at), inserted, page.subarray(at)]);
  };
  res.writeHead = (status, ...rest) => {
    const headers = rest.at(-1);
    if (headers && typeof headers === "object" && !Array.isArray(headers)) {
      const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
      if (/^text\/html/i.test(String(type ?? ""))) {
        for (const key of Object.keys(headers)) if (key.toLowerCase() === "content-length") delete headers[key];
      }
    }
    if (isPage()) res.removeHeader("content-length");
    return writeHead(status, ...rest);
  };
  res.write = (chunk, encoding, callback) => {
    if (passing || chunk == null || !isPage()) {
      passing = true;
      return write(chunk, encoding, callback);
    }
    const bytes = asBuffer(chunk, encoding);
    held.push(bytes);
    size += bytes.length;
    const out = release(false);
    if (out === null) {
      const done = typeof encoding === "function" ? encoding : callback;
      if (done) process.nextTick(done);
      return true;
    }
    return write(out, typeof encoding === "function" ? encoding : callback);
  };
  res.end = (chunk, encoding, callback) => {
    if (passing || !isPage()) return end(chunk, encoding, callback);
    if (chunk != null && typeof chunk !== "function") {
      held.push(asBuffer(chunk, encoding));
    }
    const out = release(true);
    const done = [chunk, encoding, callback].find((a) => typeof a === "function");
    return end(out, done);
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
export const pageRequests = new Map();
// The module-graph URLs pages asked for as modules themselves (beneath the base).
const pageModules = new Set();

export function recordPageLoad(req, res, next) {
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
      if (dest === "script" && request.url.startsWith(state.base) && pageModules.size < PAGE_LOAD_MAX_REQUESTS) {
        pageModules.add("/" + request.url.slice(state.base.length).split("?")[0]);
      }
      if (pageRequests.size > PAGE_LOAD_MAX_REQUESTS) pageRequests.delete(pageRequests.keys().next().value);
    });
  }
  next();
}

export function createForwardingLogger(createLogger) {
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
export async function createDevServer(vite) {
  const plugins = [controlPlugin(), ...(await projectPlugins())];
  return vite.createServer({
    root: config.root,
    cacheDir: config.cacheDir,
    clearScreen: false,
    customLogger: createForwardingLogger(vite.createLogger),
    plugins,
    server: serverOptions(),
  });
}

// Vite's `server` options for a session, whichever starts Vite (this adapter, or a framework
// through its own API: adapters/astro.mjs).
export function serverOptions() {
  const hmrSocket = { clientPort: config.wsClientPort, path: config.wsPath, protocol: config.wsProtocol };
  return {
    host: config.bindHost ?? "127.0.0.1",
    port: config.port,
    strictPort: true,
    watch: null,
    // Transform the app (index.html and what it imports) right after start, so the
    // first page load after a start or a wake-up finds it ready.
    // (A framework that renders its pages on the server has no index.html.)
    warmup: { clientFiles: fs.existsSync(path.join(config.root, "index.html")) ? ["./index.html"] : [] },
    allowedHosts: [config.publicHost],
    // The HMR socket as browsers reach it (through the proxy): `server.ws` on 8.1+,
    // `server.hmr` before (8.1+ read it too, as a deprecated alias).
    ws: hmrSocket,
    hmr: hmrSocket,
    // The project's node_modules may be a link to one of the prepared templates.
    fs: { allow: [config.workspace, config.templateDir, ...(config.templateDirs ?? [])] },
  };
}

// The plugins the project needs beyond its own config: React's, for a React project without
// a vite.config (addReactPlugin), from the project's packages or the template's.
async function projectPlugins() {
  if (!config.addReactPlugin) return [];
  const react = await importFrom("@vitejs/plugin-react", [config.root, config.templateDir]);
  return [react.default()];
}

// Start the session's dev server (config: DevServerConfig of the protocol) and answer the
// adapter's handle once it listens (dev-server.mjs says what a handle has).
export async function start(value) {
  configure(value);
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
  return sessionHandle(server, vite.version);
}

// The adapter's handle (dev-server.mjs) over the Vite dev server now serving (`current`: a
// restart makes a new one), started by this adapter or by a framework (`version`: the
// one the `ready` event says).
export function sessionHandle(server, version) {
  if (!warmsUpItself(server)) warmPage(server, path.join(config.root, "index.html"));
  warmModules(server, config.warmUrls ?? []);
  return {
    version,
    hmrPath: config.wsPath,
    clientPath: CLIENT_ID,
    notify: (changes, fresh) => notify(current, changes, fresh),
    inject: (paths) => inject(current, paths),
    announceRestart: (number) => announceRestart(current, number),
    memory: () => graphMemory(current),
    pageRequests: () => [...pageRequests.values()],
    onRequest: (listener) => server.httpServer?.on("request", listener),
    close: () => current.close(),
  };
}

// What the module graph keeps: its modules, and its transform results' code and maps
// (characters).
function graphMemory(server) {
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
  return { modules, transformCode: code, transformMaps: maps };
}

// In a container the dev server has no network: it listens on a Unix socket in a folder
// shared with the host, which the node publishes on a loopback port. Vite's own listen()
// only takes ports, so its HTTP server (the HMR socket rides on it) is bound here.
export function listenOnSocket(server, socket) {
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
export function prepareWritableDirs() {
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

// Where Vite 4.x/5.x's bundled vite.config goes (see vite-compat.mjs): never the project's folder.
function configBundles() {
  return path.join(config.tempDir ?? config.cacheDir ?? os.tmpdir(), "vite-config");
}

export function cacheKey(root, withConfig) {
  return root.replace(/^\/+/, "").replace(/[^A-Za-z0-9]+/g, "_") + (withConfig ? "--config" : "--plain");
}

function hasConfigFile(root) {
  return fs.readdirSync(root).some((name) => /^vite\.config\.(js|mjs|cjs|ts|mts|cts)$/.test(name));
}

// A production `vite build` of the same project with the same plugins (config: BuildConfig
// of the protocol), for the local deployer; emits `built`.
export async function build(value) {
  configure(value);
  prepareWritableDirs();
  moveConfigBundles(configBundles());
  const vite = await importFrom("vite", [config.root, config.templateDir]);
  const plugins = await projectPlugins();
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
