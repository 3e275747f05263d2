// Which Node does a project need? npm's own semver reads the `engines.node` ranges the
// service found (the project's package.json and its direct dependencies' installed ones:
// a framework's own minimum, astro@6's ">=22.12.0") and answers whether this Node
// satisfies them all and, if not, the lowest of the candidate majors that can.
//
// Usage: node engines.mjs '{"ranges": [{"who": "astro@6.0.1", "range": ">=22.12.0"}], "majors": [22, 24]}'
// Prints {"current": "20.20.2", "satisfied": false, "major": 22, "unmet": [{"who", "range"}],
// "invalid": [{"who", "range"}]}. An invalid range is left out of the judgement, as npm
// itself ignores it (EBADENGINE is a warning only).

import semver from "semver";

const request = JSON.parse(process.argv[2] ?? "{}");
const current = process.versions.node;
const valid = [];
const invalid = [];
for (const wanted of request.ranges ?? []) {
  (semver.validRange(wanted.range) === null ? invalid : valid).push(wanted);
}
const unmet = valid.filter((w) => !semver.satisfies(current, w.range));
// A major can if some release of it is in every range (its lowest satisfying version
// exists: minVersion of the intersection is checked against the major's bounds).
const fits = (major) =>
  valid.every((w) => semver.intersects(w.range, `>=${major}.0.0 <${major + 1}.0.0-0`));
const major = unmet.length ? (request.majors ?? []).find(fits) ?? null : null;
process.stdout.write(JSON.stringify({ current, satisfied: unmet.length === 0, major, unmet, invalid }) + "\n");
