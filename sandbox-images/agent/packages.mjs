// How the agent finds a package: the way the project itself would see it (the nearest
// node_modules above its root first), falling back to the prepared template.

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

// Looked up by folder: not every package exports its package.json.
export async function importFrom(name, dirs) {
  const pkgDir = packageDir(name, dirs);
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const entry = exportEntry(pkg) ?? pkg.module ?? pkg.main ?? "index.js";
  return import(pathToFileURL(path.join(pkgDir, entry)).href);
}

// The folder of package `name` as Node would find it from the first of `dirs` that has it
// (its node_modules, or one above). Throws if none has it.
export function packageDir(name, dirs) {
  for (const start of dirs) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const pkgDir = path.join(dir, "node_modules", name);
      if (fs.existsSync(path.join(pkgDir, "package.json"))) return pkgDir;
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
