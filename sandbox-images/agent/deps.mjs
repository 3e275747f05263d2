// Does the prepared template's node_modules satisfy a project's package.json?
//
// Usage: node deps.mjs '{"packageJson": {...}, "templateDir": "...", "ignore": ["@types/*", ...]}'
// Prints {"satisfied": bool, "unsatisfied": [{"name", "wanted", "installed"}]}.
// Ranges are checked with npm's own `semver` package (the agent's, sandbox-images/agent/
// package.json), so the answer matches what npm would accept. Dev dependencies matching an `ignore`
// pattern (types, linters) are not needed to serve a preview and are skipped.

import fs from "node:fs";
import path from "node:path";
import semver from "semver";

const { packageJson, templateDir, ignore = [] } = JSON.parse(process.argv[2]);

function ignored(name) {
  return ignore.some((pattern) =>
    pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : name === pattern,
  );
}

function installedVersion(name) {
  try {
    const file = path.join(templateDir, "node_modules", name, "package.json");
    return JSON.parse(fs.readFileSync(file, "utf8")).version;
  } catch {
    return null;
  }
}

const wanted = { ...(packageJson.dependencies ?? {}) };
for (const [name, range] of Object.entries(packageJson.devDependencies ?? {})) {
  if (!ignored(name)) wanted[name] = range;
}

const unsatisfied = [];
for (const [name, range] of Object.entries(wanted)) {
  const installed = installedVersion(name);
  const ok =
    installed !== null &&
    typeof range === "string" &&
    (range === "latest" || range === "*" ||
      (semver.validRange(range) !== null && semver.satisfies(installed, range)));
  if (!ok) unsatisfied.push({ name, wanted: range, installed });
}
process.stdout.write(JSON.stringify({ satisfied: unsatisfied.length === 0, unsatisfied }) + "\n");
