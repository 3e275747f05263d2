// Which prepared template best satisfies a project's package.json, and what does each lack?
//
// Usage: node deps.mjs '{"packageJson": {...}, "templateDirs": ["...", ...], "ignore": ["@types/*", ...]}'
// Prints {"templates": [{"dir", "unsatisfied": [{"name", "wanted", "installed"}], "satisfied", "packages"}]},
// one entry per template in the order given, and "best": the index of the one that lacks the
// fewest of the project's dependencies (ties: the one with the fewest packages of its own, so
// that the fewest are pruned from a copy of it; then the first given).
// Ranges are checked with npm's own `semver` package (the agent's, sandbox-images/agent/
// package.json), so the answer matches what npm would accept. Dev dependencies matching an `ignore`
// pattern (types, linters) are not needed to serve a preview and are skipped.

import fs from "node:fs";
import path from "node:path";
import semver from "semver";

const { packageJson, templateDirs, ignore = [] } = JSON.parse(process.argv[2]);

function ignored(name) {
  return ignore.some((pattern) =>
    pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern,
  );
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

const wanted = { ...(packageJson.dependencies ?? {}) };
for (const [name, range] of Object.entries(packageJson.devDependencies ?? {})) {
  if (!ignored(name)) wanted[name] = range;
}

function check(templateDir) {
  const unsatisfied = [];
  for (const [name, range] of Object.entries(wanted)) {
    const installed = readJson(path.join(templateDir, "node_modules", name, "package.json"))?.version ?? null;
    const ok =
      installed !== null &&
      typeof range === "string" &&
      (range === "latest" || range === "*" ||
        (semver.validRange(range) !== null && semver.satisfies(installed, range)));
    if (!ok) unsatisfied.push({ name, wanted: range, installed });
  }
  const own = readJson(path.join(templateDir, "package.json")) ?? {};
  const packages = Object.keys({ ...own.dependencies, ...own.devDependencies }).length;
  return { dir: templateDir, unsatisfied, satisfied: Object.keys(wanted).length - unsatisfied.length, packages };
}

const templates = templateDirs.map(check);
let best = 0;
templates.forEach((t, i) => {
  const b = templates[best];
  if (t.unsatisfied.length < b.unsatisfied.length ||
      (t.unsatisfied.length === b.unsatisfied.length && t.packages < b.packages)) best = i;
});
process.stdout.write(JSON.stringify({ templates, best }) + "\n");
