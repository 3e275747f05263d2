// What differs between the Vite majors the agent runs (4.x to 8.x), found by feature, never
// by version string. Sources: vitejs/vite packages/vite/src/node/server/index.ts of each
// major (the dev server object), server/environment.ts (6.0+), server/hmr.ts.
//
// * The Environment API (6.0+): `server.environments.client` holds the browser's module
//   graph, transformRequest and warmupRequest; before it they are on the server itself.
// * `server.warmupRequest` came with `server.warmup` in 5.1; before it a transform warms.
// * `server.ws` is the HMR WebSocket server on every major; the other channels (5.1's
//   `server.hot` broadcaster, 6.0's `environments.client.hot`) call its `send` at call time,
//   so a wrapper on `server.ws.send` sees every message the pages get.
// * `server.watch: null` (no file watcher, 5.0+) is not known to 4.x, which starts chokidar
//   on the root whatever it is given: `stopFileWatching` closes that watcher and keeps
//   Vite's own listeners on it, so the agent's events still run the HMR pipeline.

import fs from "node:fs";
import fsp from "node:fs/promises";
import { register } from "node:module";
import path from "node:path";

// The module graph and request functions of the browser's side.
export function clientSide(server) {
  const env = server.environments?.client;
  if (env) {
    return {
      moduleGraph: env.moduleGraph,
      transformRequest: (url) => env.transformRequest(url),
      warmupRequest: (url) => env.warmupRequest(url),
    };
  }
  return {
    moduleGraph: server.moduleGraph,
    transformRequest: (url) => server.transformRequest(url),
    warmupRequest: (url) =>
      server.warmupRequest ? server.warmupRequest(url) : server.transformRequest(url).then(() => {}),
  };
}

// Every module graph a changed file may be in (one per environment on 6.0+).
export function moduleGraphs(server) {
  return server.environments ? Object.values(server.environments).map((e) => e.moduleGraph) : [server.moduleGraph];
}

// Whether this Vite pre-transforms `server.warmup.clientFiles` at start by itself.
export function warmsUpItself(server) {
  return typeof server.warmupRequest === "function";
}

// Calls `listener` when a page's HMR client connects: 6.0+ emit `vite:client:connect`,
// earlier majors pass the socket server's `connection` event on.
export function onPageConnect(server, listener) {
  server.ws.on("vite:client:connect", listener);
  if (!server.environments) server.ws.on("connection", listener);
}

// Close a file watcher Vite started although it was told `watch: null` (4.x), keeping the
// listeners Vite put on it. Answers whether there was one to close. Vite's own no-op
// watcher (5.0+) has chokidar's methods too; only chokidar keeps a `closed` state.
const WATCHER_EVENTS = ["add", "addDir", "change", "unlink", "unlinkDir", "all", "error", "ready", "raw"];

export function stopFileWatching(server) {
  const watcher = server.watcher;
  if (typeof watcher?.closed !== "boolean" || typeof watcher.close !== "function") return false;
  const kept = WATCHER_EVENTS.map((event) => [event, watcher.listeners(event)]);
  watcher.close(); // releases every inotify watch it made; also removes all listeners
  for (const [event, listeners] of kept) for (const listener of listeners) watcher.on(event, listener);
  // Vite adds files outside the root to the watcher as it loads them: watch none of them.
  watcher.add = () => watcher;
  watcher.unwatch = () => watcher;
  return true;
}

// The path the dev server serves under (`base`), "/"-terminated; relative and full-URL
// bases are served at "/" or at the URL's path, as Vite does in dev.
export function servedBase(config) {
  const base = config?.base ?? "/";
  if (base.startsWith("/")) return base.endsWith("/") ? base : base + "/";
  try {
    const pathname = new URL(base).pathname;
    return pathname.endsWith("/") ? pathname : pathname + "/";
  } catch {
    return "/";
  }
}

// Vite 4.x and 5.x bundle an ESM vite.config into a file written next to it
// (`vite.config.ts.timestamp-<ms>-<hex>.mjs`), import it, then delete it; Vite 6+ write it
// in node_modules/.vite-temp instead. Next to the config is the project's folder: read-only
// in a Docker session (EROFS: Vite cannot start), and a stray file among the project's in a
// local one. Where that bundle lies does not matter to what it does (Vite 4/5 inline the
// config's own import.meta.url, __dirname and __filename, and turn its package imports into
// absolute file URLs), so its write, import and removal are sent to `folder` instead.
// Files in a node_modules folder (Vite 6+'s, whose package imports stay bare) are left as
// they are. Returns nothing; call once, before Vite loads the config.
const CONFIG_BUNDLE = /\.timestamp-\d+-[0-9a-f]+\.mjs$/;

export function moveConfigBundles(folder) {
  let hooked = false;
  const moved = (file) => {
    if (typeof file !== "string" || !CONFIG_BUNDLE.test(file) || file.includes(`${path.sep}node_modules${path.sep}`)) {
      return file;
    }
    if (!hooked) {
      // Only now, for a major that writes next to the config: a module hook runs off the
      // main thread, and every later import pays a round trip to it.
      hooked = true;
      fs.mkdirSync(folder, { recursive: true });
      register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { folder } });
    }
    return path.join(folder, path.basename(file));
  };
  for (const name of ["writeFile", "unlink"]) {
    const original = fsp[name];
    fsp[name] = function (file, ...rest) {
      return original.call(this, moved(file), ...rest);
    };
  }
}

// The import side of moveConfigBundles: the bundle's file URL, next to the config, is
// resolved to the moved file.
const HOOKS = `
  import path from "node:path";
  import { fileURLToPath, pathToFileURL } from "node:url";
  let folder;
  export function initialize(data) { folder = data.folder; }
  export async function resolve(specifier, context, next) {
    if (specifier.startsWith("file:") && ${CONFIG_BUNDLE}.test(specifier) && !specifier.includes("/node_modules/")) {
      return { url: pathToFileURL(path.join(folder, path.basename(fileURLToPath(specifier)))).href, shortCircuit: true };
    }
    return next(specifier, context);
  }`;
