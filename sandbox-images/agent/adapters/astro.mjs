// The Astro adapter: Astro's dev server, started through Astro's JavaScript API (`dev()`,
// https://docs.astro.build/en/reference/programmatic-reference/), is Vite underneath; the
// Vite adapter's plugin goes into it (`vite.plugins`), so everything the Vite adapter does
// holds here too: no file watcher (the service says which files changed, replayed as
// watcher events, which Astro hears as well), the page client first in every page Astro
// renders, acknowledgements and errors, stylesheets pushed in. What is Astro's own:
//   * a change to astro.config.* restarts Astro's dev server (Astro does it when its
//     watcher hears of the file; the pages are told the change comes as a reload);
//   * an .astro page or layout is rendered on the server: its change reloads the page
//     (as `astro dev` does); a framework component (an island) hot-updates;
//   * Astro's update check and telemetry (requests to the internet) and its dev toolbar
//     (an overlay that is not the app) are off.
// Astro 5 (Vite 6) on Node 20; Astro 6 needs Node 22.

import path from "node:path";
import { emit } from "../protocol.mjs";
import { importFrom, packageDir } from "../packages.mjs";
import { configure, config, state } from "./vite-state.mjs";
import { controlPlugin, prepareWritableDirs, serverOptions, sessionHandle } from "./vite.mjs";

const CONFIG_FILE = /^astro\.config\.(js|mjs|cjs|ts|mts|cts)$/;

function astroSettings() {
  return {
    root: config.root,
    logLevel: "info",
    devToolbar: { enabled: false },
    cacheDir: path.join(config.cacheDir, "astro"), // not node_modules/.astro: read-only in a container
    server: { host: config.bindHost ?? "127.0.0.1", port: config.port ?? 4321 },
    vite: {
      cacheDir: config.cacheDir,
      plugins: [controlPlugin()],
      server: serverOptions(),
    },
  };
}

function quiet() {
  process.env.ASTRO_TELEMETRY_DISABLED = "1";
  process.env.ASTRO_DISABLE_UPDATE_CHECK = "true";
}

// Vite as Astro has it (its own, or the project's where npm hoisted one).
function astroVite() {
  return importFrom("vite", [packageDir("astro", [config.root]), config.root]);
}

export async function start(value) {
  configure(value);
  prepareWritableDirs();
  quiet();
  state.restartsOn = (file) => path.dirname(file) === config.root && CONFIG_FILE.test(path.basename(file));
  const astro = await importFrom("astro", [config.root]);
  const vite = await astroVite();
  let server = null;
  const settings = astroSettings();
  settings.vite.plugins.push({ name: "kontext-preview-astro", configureServer: (s) => void (s.httpServer && (server ??= s)) });
  // In a container, Astro's listen() goes to the session's socket (the Vite adapter's plugin
  // puts it there).
  const started = await astro.dev(settings);
  const handle = sessionHandle(server, vite.version);
  return { ...handle, close: () => started.stop() };
}

// A production build (`astro build`) into config.outDir: the deployment fallback.
export async function build(value) {
  configure(value);
  prepareWritableDirs();
  quiet();
  const astro = await importFrom("astro", [config.root]);
  await astro.build({ root: config.root, logLevel: "info", outDir: config.outDir, cacheDir: path.join(config.cacheDir, "astro"), devToolbar: { enabled: false }, vite: { cacheDir: config.cacheDir } });
  emit("built", { outDir: config.outDir, viteVersion: (await astroVite()).version });
}
