// Which of a package.json's dependencies can a preview install? npm's own spec parser
// (npm-package-arg, the one npm itself uses) says what each spec is; a preview installs
// from the npm registry only, so every registry form is accepted (versions, ranges of
// every syntax, tags, `npm:` aliases of those) and `file:`/directory specs that stay inside
// the project; git, URLs, remote tarballs and protocols npm does not know are refused.
//
// Usage: node specs.mjs '{"packages": [{"dir": "frontend", "sections": {"dependencies": {...}}}]}'
// `dir` is the package.json's folder relative to the project root ("" for the root).
// Prints {"refused": [{"dir", "section", "name", "spec", "type", "reason", "unsupported"?}]}:
// `unsupported` marks a spec npm could install but previews cannot run (Vite before 4).

import path from "node:path";
import npa from "npm-package-arg";
import semver from "semver";

const PROJECT = "/project"; // a stand-in root: file specs are resolved against it, never read
const REGISTRY = new Set(["version", "range", "tag"]);
// The Vite majors the agent runs (sandbox-images/agent/adapters/vite-compat.mjs).
export const SUPPORTED_VITE = ">=4.0.0";

export function refusal(name, spec, dir) {
  let parsed;
  try {
    parsed = npa.resolve(name, spec, path.posix.join(PROJECT, dir));
  } catch (err) {
    if (err.code === "EINVALIDPACKAGENAME") return { type: "invalid", reason: `${JSON.stringify(name)} is not a valid npm package name` };
    if (err.code === "EUNSUPPORTEDPROTOCOL") {
      const protocol = /^([a-z+]+):/i.exec(spec)?.[1] ?? "";
      const hint = protocol === "workspace" ? "; npm links a workspace's packages by name: use a version range such as \"*\"" : "";
      return { type: "unsupported", reason: `npm does not install ${protocol}: specs${hint}` };
    }
    return { type: "invalid", reason: `npm cannot read this spec (${err.message})` };
  }
  const type = parsed.type === "alias" ? `alias of ${parsed.subSpec.type}` : parsed.type;
  const target = parsed.type === "alias" ? parsed.subSpec : parsed;
  if (REGISTRY.has(target.type)) {
    const range = target.type === "tag" ? null : target.fetchSpec;
    if ((target.name ?? name) === "vite" && range && !semver.intersects(range, SUPPORTED_VITE)) {
      return { type, unsupported: true, reason: `asks for Vite ${range}; previews run Vite 4.x to 8.x (use a range such as ^5.4.0 or ^8.0.0)` };
    }
    return null;
  }
  if (target.type === "file" || target.type === "directory") {
    const inside = path.posix.relative(PROJECT, target.fetchSpec);
    if (inside && !inside.startsWith("..") && !path.posix.isAbsolute(inside)) return null;
    return { type, reason: "points outside the project" };
  }
  const where = target.type === "git" ? "a git repository" : "a URL";
  return { type, reason: `comes from ${where}; previews install from the npm registry (a version, range or tag) or a file: path inside the project` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { packages } = JSON.parse(process.argv[2]);
  const refused = [];
  for (const { dir, sections } of packages) {
    for (const [section, deps] of Object.entries(sections)) {
      for (const [name, spec] of Object.entries(deps)) {
        const why = refusal(name, spec, dir);
        if (why) refused.push({ dir, section, name, spec, ...why });
      }
    }
  }
  process.stdout.write(JSON.stringify({ refused }) + "\n");
}
