// The canisters a project declares, read the way dfx and icp-cli read them, for the Motoko
// check to resolve `import X "canister:name"` (motoko-check.mjs).
//   dfx.json:  {"canisters": {"<name>": {"type": "motoko", "main": "src/x/main.mo"}}}, or
//              {"type": "custom" | "rust" | ..., "candid": "src/x/x.did"}; paths from the root.
//   icp.yaml:  canisters: [{name, recipe: {type: "@dfinity/motoko@v4.0.0", configuration:
//              {main: "src/x/main.mo", candid?: "x.did"}}}, {name, build: {steps: [{type:
//              "script", commands: ["moc src/x/main.mo ..."]}]}}, "path/to/canister.yaml",
//              "canisters/*", ...]; a reference names a canister manifest (or a folder holding
//              canister.yaml) whose paths are relative to its own folder.
// readDeclarations(root) -> {canisters: Map<name, {name, source, kind, main?, candid?}>,
//                            looked: ["dfx.json (declares a, b)", "icp.yaml (absent)"]}
// Only the project root's dfx.json and icp.yaml count. The `yaml` package is loaded only
// when there is an icp.yaml.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const posix = path.posix;
const MOTOKO_FILE = /(?:^|[\s"'=])((?:\.{0,2}\/)?[\w@.\-/]+\.mo)(?=$|[\s"'])/;

export function readDeclarations(root) {
  const canisters = new Map();
  const looked = [];
  for (const [file, read] of [
    ["dfx.json", readDfx],
    ["icp.yaml", readIcp],
  ]) {
    const full = path.join(root, file);
    if (!fs.existsSync(full)) {
      looked.push(`${file} (absent)`);
      continue;
    }
    let found;
    try {
      found = read(root, fs.readFileSync(full, "utf8"));
    } catch (err) {
      looked.push(`${file} (unreadable: ${firstLine(err.message)})`);
      continue;
    }
    for (const c of found) if (!canisters.has(c.name)) canisters.set(c.name, c);
    const names = found.map((c) => c.name);
    const what = names.length ? `declares ${names.join(", ")}` : "declares no canister";
    looked.push(`${file} (${what})`);
  }
  return { canisters, looked };
}

/** The names imported as "canister:<name>" in a Motoko source. */
export function canisterImports(text) {
  return [...text.matchAll(/"canister:([^"\s]+)"/g)].map((m) => m[1]);
}

function readDfx(root, text) {
  const config = JSON.parse(text);
  const declared = config?.canisters;
  const entries = declared && typeof declared === "object" ? Object.entries(declared) : [];
  return entries.map(([name, c]) => {
    const main = typeof c?.main === "string" && c.main.endsWith(".mo") ? c.main : undefined;
    return declaration(name, "dfx.json", "", {
      kind: String(c?.type ?? (main ? "motoko" : "custom")),
      main,
      candid: typeof c?.candid === "string" ? c.candid : undefined,
    });
  });
}

function readIcp(root, text) {
  const { parse } = require("yaml");
  const config = parse(text) ?? {};
  const found = [];
  for (const entry of config.canisters ?? []) {
    if (typeof entry === "string") {
      for (const manifest of manifests(root, entry)) {
        const base = posix.dirname(manifest);
        const text = fs.readFileSync(path.join(root, manifest), "utf8");
        found.push(icpCanister(parse(text), manifest, base));
      }
    } else if (entry && typeof entry === "object") {
      found.push(icpCanister(entry, "icp.yaml", ""));
    }
  }
  return found.filter((c) => c.name);
}

function icpCanister(c, source, base) {
  const recipe = c?.recipe ?? {};
  const configuration = recipe.configuration ?? {};
  const commands = (c?.build?.steps ?? []).flatMap((s) => [s?.command, ...(s?.commands ?? [])]);
  const fromScript = commands.map((cmd) => MOTOKO_FILE.exec(String(cmd ?? ""))?.[1]).find(Boolean);
  const main = typeof configuration.main === "string" ? configuration.main : fromScript;
  return declaration(String(c?.name ?? ""), source, base, {
    kind: String(recipe.type ?? (main ? "motoko" : "custom")),
    main: main?.endsWith(".mo") ? main : undefined,
    candid: typeof configuration.candid === "string" ? configuration.candid : undefined,
  });
}

function declaration(name, source, base, { kind, main, candid }) {
  const resolve = (p) => (p === undefined ? undefined : posix.normalize(posix.join(base, p)));
  return { name, source, kind, main: resolve(main), candid: resolve(candid) };
}

/** The canister manifests an icp.yaml reference names: a file, a folder with canister.yaml,
 * or a glob of either (`*` within a folder, `**` across folders). */
function manifests(root, reference) {
  const found = [];
  for (const match of glob(root, reference.split("/").filter((s) => s && s !== "."), "")) {
    const full = path.join(root, match);
    if (fs.statSync(full).isDirectory()) {
      const manifest = posix.join(match, "canister.yaml");
      if (fs.existsSync(path.join(root, manifest))) found.push(manifest);
    } else if (/\.ya?ml$/.test(match)) {
      found.push(match);
    }
  }
  return found;
}

function glob(root, segments, at) {
  if (segments.length === 0) return [at];
  const [head, ...rest] = segments;
  if (!/[*?]/.test(head)) {
    const next = posix.join(at, head);
    return fs.existsSync(path.join(root, next)) ? glob(root, rest, next) : [];
  }
  const children = subfolders(root, at, true);
  if (head === "**") {
    return [
      ...glob(root, rest, at),
      ...subfolders(root, at, false).flatMap((d) => glob(root, segments, posix.join(at, d))),
    ];
  }
  const escaped = head.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escaped.replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return children
    .filter((n) => pattern.test(n))
    .flatMap((n) => glob(root, rest, posix.join(at, n)));
}

function subfolders(root, at, withFiles) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(root, at), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => !e.name.startsWith(".") && e.name !== "node_modules")
    .filter((e) => withFiles || e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function firstLine(text) {
  return String(text).split("\n")[0];
}
