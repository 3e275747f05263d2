// The image role (`"mode": "image"`, run once while the sandbox image is built, as root; its
// config is image-build.json): the templates' node_modules, the few writable places a
// read-only container needs, and Vite's pre-bundled dependency caches for the usual project
// shapes (optimize), which a session's dev server is seeded with (adapters/vite.mjs).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { emit } from "./protocol.mjs";
import { importFrom } from "./packages.mjs";
import { cacheKey, createDevServer, prepareWritableDirs } from "./adapters/vite.mjs";
import { config, configure } from "./adapters/vite-state.mjs";

// The templates' node_modules (the Vite template's and each stack template's), the writable
// places, then the dependency cache (optimize).
export async function image(value) {
  configure(value);
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

// For each root, put
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
