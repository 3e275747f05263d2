// Type-checks a project's Motoko (.mo) files with the `motoko` npm package (the real
// compiler, moc, built for JavaScript) and prints one JSON object on stdout:
//   {"checked": ["src/backend/main.mo"], "diagnostics": [{file, line, column, endLine,
//    endColumn, severity, code, message}]  (lines and columns 1-based),
//    "canisters": {"<imported name>": "<where its interface came from>"},
//    "unavailablePackages": [{name, version, reason}], "notes": ["..."]}
// Input, as the one argument: {"root": "<dir>", "files": ["<relative .mo path>", ...],
// "flags": ["--default-persistent-actors", ...] (moc's own flags), "packages": {"<name>":
// "<version>"} (mops.toml's [dependencies]; absent without a mops.toml)}.
//
// Packages: those bundled with the compiler package (motoko/packages/latest: `core`) are
// loaded. One that mops.toml asks for and that is not bundled cannot be had (the check runs
// offline and downloads nothing): the check then stops and lists it in unavailablePackages.
// Canisters: `import X "canister:name"` resolves from the project's dfx.json / icp.yaml
// (motoko-canisters.mjs). A Motoko canister's interface is moc's Candid for its main file; a
// declared .did file is used as it is. Each gets a fixed principal and is passed to moc as
// an actor IDL (setAliases: --actor-idl <dir> and --actor-alias <name> <principal>).
// moc's "canister alias not defined" and "package not defined" are reworded to say why.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { canisterImports, readDeclarations } from "./motoko-canisters.mjs";

const require = createRequire(import.meta.url);
const request = JSON.parse(process.argv[2] ?? "{}");
const IDL_DIR = ".kontext-actor-idl";
const COMPILER = `motoko ${require("motoko/package.json").version}`;
const mo = require("motoko");
const notes = [];

const bundled = bundledPackages();
const unavailable = missingPackages(request.packages ?? {});
if (unavailable.length) finish({ checked: [], diagnostics: [], unavailablePackages: unavailable });
for (const pkg of bundled.values()) mo.loadPackage(pkg);
if (request.flags?.length) mo.setExtraFlags(request.flags);

const sources = new Map();
for (const file of request.files) {
  const text = fs.readFileSync(path.join(request.root, file), "utf8");
  sources.set(file, text);
  mo.write(file, text);
}
const declared = readDeclarations(request.root);
const { resolved, problems } = actorInterfaces(declared.canisters);

// Check the actors (each one pulls in what it imports); with none, check every file.
const ACTOR = /^\s*(persistent\s+)?(actor|shared\s*(\([^)]*\))?\s*actor)\b/m;
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
      message: explain(d),
    };
    const key = JSON.stringify(item);
    if (!seen.has(key)) {
      seen.add(key);
      diagnostics.push(item);
    }
  }
}
finish({ checked: entries, diagnostics, canisters: resolved });

function finish(report) {
  process.stdout.write(JSON.stringify({ ...report, notes }) + "\n");
  process.exit(0);
}

function bundledPackages() {
  const dir = path.join(path.dirname(require.resolve("motoko/package.json")), "packages", "latest");
  const found = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const pkg = require(path.join(dir, file));
    found.set(pkg.name, pkg);
  }
  return found;
}

function bundledList() {
  return [...bundled.values()].map((p) => `${p.name} ${bare(p.version)}`).join(", ") || "nothing";
}

function missingPackages(asked) {
  const missing = [];
  for (const [name, version] of Object.entries(asked)) {
    const pkg = bundled.get(name);
    if (!pkg) {
      missing.push({
        name,
        version,
        reason:
          `not bundled with the deployer's compiler (${COMPILER} bundles ${bundledList()}), ` +
          "and the check runs offline: it does not download packages from the mops registry",
      });
    } else if (bare(version) !== bare(pkg.version)) {
      const used = `${name} ${bare(pkg.version)}`;
      notes.push(`mops.toml asks for ${name} ${version}; checked with the bundled ${used}`);
    }
  }
  return missing;
}

/** Give every imported canister of the project an interface moc can read. Returns
 * {resolved: {name: "src/x/main.mo" | "x.did"}, problems: Map<name, why it has none>}. */
function actorInterfaces(canisters) {
  const imported = new Set([...sources.values()].flatMap(canisterImports));
  const names = [...canisters.keys()].sort();
  const principalOf = (name) => principal(names.indexOf(name));
  const resolved = {};
  const aliases = {};
  const problems = new Map();
  let pending = [];
  for (const name of [...imported].filter((n) => canisters.has(n)).sort()) {
    const c = canisters.get(name);
    if (c.main && sources.has(c.main)) {
      pending.push(name);
    } else if (c.main) {
      problems.set(name, `its main file ${c.main} is not among the project's .mo files`);
    } else if (c.candid && fs.existsSync(path.join(request.root, c.candid))) {
      const did = fs.readFileSync(path.join(request.root, c.candid), "utf8");
      mo.write(`${IDL_DIR}/${principalOf(name)}.did`, did);
      aliases[name] = principalOf(name);
      resolved[name] = c.candid;
    } else if (c.candid) {
      problems.set(name, `its Candid file ${c.candid} is not in the project`);
    } else {
      const what = `neither a Motoko main file nor a Candid file (type "${c.kind}")`;
      problems.set(name, `it declares ${what}`);
    }
  }
  // A canister's main may import other canisters: derive in rounds until nothing changes.
  const failures = new Map();
  while (pending.length) {
    mo.setAliases(IDL_DIR, aliases);
    const left = [];
    for (const name of pending) {
      const main = canisters.get(name).main;
      try {
        mo.write(`${IDL_DIR}/${principalOf(name)}.did`, mo.candid(main));
        aliases[name] = principalOf(name);
        resolved[name] = main;
      } catch (err) {
        failures.set(name, String(err.message));
        left.push(name);
      }
    }
    if (left.length === pending.length) break;
    pending = left;
  }
  for (const name of pending) {
    const main = canisters.get(name).main;
    const needs = /canister alias "([^"]+)" not defined/.exec(failures.get(name))?.[1];
    const why = !needs
      ? `${main} has errors of its own (reported there)`
      : canisters.has(needs)
        ? `${main} imports canister "${needs}", which has none`
        : `${main} imports canister "${needs}", which the project does not declare`;
    problems.set(name, `its interface could not be derived: ${why}`);
  }
  mo.setAliases(IDL_DIR, aliases);
  return { resolved, problems };
}

function explain(d) {
  const alias = /canister alias "([^"]+)" not defined/.exec(d.message);
  if (alias) {
    const name = alias[1];
    const c = declared.canisters.get(name);
    if (!c) {
      const looked = declared.looked.join(", ");
      return `canister "${name}" is not declared by the project; looked at ${looked}`;
    }
    const why = problems.get(name) ?? "no interface was found";
    const what = `canister "${name}" (declared in ${c.source})`;
    return `${what} has no interface to check this import against: ${why}`;
  }
  const pkg = /package "([^"]+)" not defined/.exec(d.message);
  if (pkg && !bundled.has(pkg[1])) {
    const mops = request.packages ? "mops.toml does not declare it" : "there is no mops.toml";
    const compiler = `the deployer's compiler (${COMPILER}) bundles only ${bundledList()}`;
    return `package "${pkg[1]}" is not available: ${mops}, and ${compiler}`;
  }
  return d.message;
}

/** The textual form of the i-th canister id (as the replica numbers them): fixed per
 * project, valid for moc, never a real deployment's. */
function principal(index) {
  const bytes = Buffer.alloc(10);
  bytes.writeBigUInt64BE(BigInt(index), 0);
  bytes[8] = 1;
  bytes[9] = 1;
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(bytes));
  const data = Buffer.concat([crc, bytes]);
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let text = "";
  let value = 0;
  let bits = 0;
  for (const byte of data) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      text += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) text += alphabet[(value << (5 - bits)) & 31];
  return text.match(/.{1,5}/g).join("-");
}

function bare(version) {
  return String(version).replace(/^v/, "");
}
