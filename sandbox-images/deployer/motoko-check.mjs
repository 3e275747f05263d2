// Type-checks a project's Motoko (.mo) files with the `motoko` npm package (the real
// compiler, moc, built for JavaScript) and prints one JSON object on stdout:
//   {"checked": ["src/backend/main.mo"], "diagnostics": [{file, line, column, endLine,
//    endColumn, severity, code, message}]}  (lines and columns 1-based)
// Input, as the one argument: {"root": "<dir>", "files": ["<relative .mo path>", ...],
// "flags": ["--default-persistent-actors", ...]} (moc's own flags).
// The `core` package (imports "mo:core/...") is bundled with the compiler and loaded;
// other mo: packages (e.g. "mo:base") cannot be fetched offline and are reported by moc.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const request = JSON.parse(process.argv[2] ?? "{}");
const mo = require("motoko");
mo.loadPackage(require("motoko/packages/latest/core.json"));
if (request.flags?.length) mo.setExtraFlags(request.flags);

const ACTOR = /^\s*(persistent\s+)?(actor|shared\s*(\([^)]*\))?\s*actor)\b/m;
const sources = new Map();
for (const file of request.files) {
  const text = fs.readFileSync(path.join(request.root, file), "utf8");
  sources.set(file, text);
  mo.write(file, text);
}
// Check the actors (each one pulls in what it imports); with none, check every file.
let entries = [...sources.keys()].filter((f) => ACTOR.test(sources.get(f)));
if (entries.length === 0) entries = [...sources.keys()];

const seen = new Set();
const diagnostics = [];
for (const file of entries) {
  for (const d of mo.check(file)) {
    const item = {
      file: d.source,
      line: d.range.start.line + 1,
      column: d.range.start.character + 1,
      endLine: d.range.end.line + 1,
      endColumn: d.range.end.character + 1,
      severity: d.severity === 1 ? "error" : "warning",
      code: d.code ?? null,
      message: d.message,
    };
    const key = JSON.stringify(item);
    if (!seen.has(key)) {
      seen.add(key);
      diagnostics.push(item);
    }
  }
}
process.stdout.write(JSON.stringify({ checked: entries, diagnostics }) + "\n");
