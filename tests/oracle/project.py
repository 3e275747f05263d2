"""The oracle's project: a tiny React + TS app in the Kontext layout, and how a corpus case
is put into it so that Vite sees the edited file.

The project mirrors the corpus' paths: the app (Vite's root) is ``src/frontend/`` of a
project directory, the backend and ``.env`` sit where a dfx project has them. A case's
file is made part of the page's module graph by the case module ``src/__oracle__/Case.tsx``
(rendered by ``main.tsx`` next to ``<App/>``): code files are imported as a namespace and
their components rendered, stylesheets imported (CSS modules' classes used), JSON imported.
Files the base already loads (``App.tsx``, ``index.css``) need no import; everything else
(public files, backend, package.json, lock files, config) is just written where it lives.

Imports the base lacks (``clsx``, ``react-router-dom``, ``./Button``, ``@/lib/utils``…) are
answered by ``oracle-stubs.mjs``, a Vite plugin of normal order (after Vite's resolver):
an import nothing resolves becomes a module exporting the names the importer asks for, each
a universal stub. Stub packages stand in for the vite config's plugins the template lacks.
"""

import posixpath
import shutil
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "src/frontend"  # Vite's root inside the project: the corpus' app folder
CASE_MODULE = f"{ROOT}/src/__oracle__/Case.tsx"
TEMPLATE_MODULES = Path(__file__).resolve().parents[2] / "sandbox-images/template/node_modules"

CODE = (".ts", ".tsx", ".js", ".jsx", ".mjs")
STYLES = (".css", ".scss", ".sass", ".less", ".styl", ".pcss")

_VITE_CONFIG = """\
import { fileURLToPath, URL } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import oracleStubs from "./oracle-stubs.mjs";

export default defineConfig({
  plugins: [react(), oracleStubs()],
  envDir: "../../",
  resolve: {
    alias: [{ find: "@", replacement: fileURLToPath(new URL("./src", import.meta.url)) }],
  },
});
"""

_STUB_PLUGIN = r"""
// Answers imports nothing else resolves with a module of universal stubs (oracle only).
import { readFileSync } from "node:fs";

const PREFIX = "\0oracle-stub:";
const CODE = /\.(?:[cm]?[jt]sx?)$/;

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function requestedNames(code, source) {
  const names = new Set();
  const quoted = `["']${escape(source)}["']`;
  const from = new RegExp(`(?:import|export)\\s+([^;]*?)\\s*from\\s*${quoted}`, "g");
  for (const match of code.matchAll(from)) {
    const clause = match[1].trim();
    if (/^type\s/.test(clause)) continue;
    const braces = clause.match(/\{([^}]*)\}/);
    for (const spec of braces ? braces[1].split(",") : []) {
      const text = spec.trim();
      if (!text || text.startsWith("type ")) continue;
      const name = text.split(/\s+as\s+/)[0].trim();
      if (name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name)) names.add(name);
    }
  }
  return [...names].sort();
}

const RUNTIME = `
const SKIP = new Set(["then", "prototype", "$$typeof", "isReactComponent", "defaultProps",
  "contextTypes", "childContextTypes", "contextType", "propTypes", "displayName",
  "getDerivedStateFromProps", "getDerivedStateFromError", "_payload", "_init", "compare"]);
function makeStub() {
  const target = function () {};
  const stub = new Proxy(target, {
    get(_t, key) {
      if (key === Symbol.toPrimitive) return () => "";
      if (typeof key === "symbol") return undefined;
      if (key === "toString" || key === "valueOf" || key === "toJSON") return () => "";
      if (SKIP.has(key)) return undefined;
      return stub;
    },
    apply() { return stub; },
    construct() { return stub; },
  });
  return stub;
}
const stub = makeStub();
export default stub;
`;

export default function oracleStubs() {
  return {
    name: "oracle-stubs",
    resolveId(source, importer) {
      if (!importer || source.startsWith("\0") || source.includes("::")) return null;
      const file = importer.split("?")[0];
      if (!CODE.test(file) || file.includes("/node_modules/")) return null;
      let code;
      try {
        code = readFileSync(file, "utf8");
      } catch {
        return null;
      }
      console.log(`[oracle-stub] ${source} from ${file}`);
      return `${PREFIX}${source}::${requestedNames(code, source).join(",")}`;
    },
    load(id) {
      if (!id.startsWith(PREFIX)) return null;
      const names = id.slice(id.lastIndexOf("::") + 2).split(",").filter(Boolean);
      return RUNTIME + names.map((name) => `export const ${name} = stub;`).join("\n");
    },
  };
}
"""

_MAIN_TSX = """\
import { createRoot } from "react-dom/client";
import App from "./App";
import OracleCase from "./__oracle__/Case";
import "./index.css";

createRoot(document.getElementById("root")!).render(
  <>
    <App />
    <OracleCase />
  </>,
);
"""

_GUARD_TSX = """\
import { Component, type ReactNode } from "react";

// Keeps a case component's render error (missing props, stubs) inside its own box.
export class Guard extends Component<{ children: ReactNode }, { failed: boolean }> {
  state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  render() {
    return this.state.failed ? <p data-oracle="render-error" /> : this.props.children;
  }
}
"""

_EMPTY_CASE = """\
// oracle case: none
export default function OracleCase() {
  return null;
}
"""

_INDEX_HTML = """\
<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <title>Oracle</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""

BASE: dict[str, str] = {
    f"{ROOT}/package.json": '{"name": "oracle-app", "private": true, "type": "module"}\n',
    f"{ROOT}/index.html": _INDEX_HTML,
    f"{ROOT}/vite.config.ts": _VITE_CONFIG,
    f"{ROOT}/oracle-stubs.mjs": _STUB_PLUGIN,
    f"{ROOT}/src/main.tsx": _MAIN_TSX,
    f"{ROOT}/src/App.tsx": "export default function App() {\n  return <h1>Oracle</h1>;\n}\n",
    f"{ROOT}/src/index.css": "body {\n  margin: 0;\n}\n",
    f"{ROOT}/src/__oracle__/Guard.tsx": _GUARD_TSX,
    CASE_MODULE: _EMPTY_CASE,
}
# Files of the base the page loads anyway: a case's version replaces them, no import needed.
LOADED_BY_BASE = {f"{ROOT}/src/App.tsx", f"{ROOT}/src/index.css", f"{ROOT}/src/main.tsx"}

# The corpus' vite config uses plugins the template does not have: packages that do nothing.
_STUB_PACKAGES = ("vite-plugin-environment", "vite-tsconfig-paths")


def make_project(directory: Path) -> Path:
    """Write the base project into ``directory``; its ``node_modules`` links the template's
    packages one by one (so Vite's cache stays in the project) plus the stub packages."""
    for name, text in BASE.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = directory / ROOT / "node_modules"
    modules.mkdir()
    for entry in TEMPLATE_MODULES.iterdir():
        if not entry.name.startswith("."):
            (modules / entry.name).symlink_to(entry)
    for package in _STUB_PACKAGES:
        (modules / package).mkdir()
        (modules / package / "package.json").write_text(
            f'{{"name": "{package}", "type": "module", "exports": "./index.js"}}\n'
        )
        (modules / package / "index.js").write_text(
            f'export default function stub() {{\n  return {{ name: "{package}-stub" }};\n}}\n'
        )
    return directory


def remove_project(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


Content = bytes | None  # None: delete the file


@dataclass
class CasePlan:
    """How one single-file edit is shown to Vite: ``setup`` writes the old state (and the
    case module that loads the file), ``change`` is the edit, ``restore`` the base again."""

    setup: dict[str, Content] = field(default_factory=dict)
    change: dict[str, Content] = field(default_factory=dict)
    restore: dict[str, Content] = field(default_factory=dict)
    loads: str | None = None  # the URL path the page must have loaded, if any


def _bytes(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else content.encode()


def url_of(name: str) -> str | None:
    """The dev-server URL path of a project file, or None outside Vite's root."""
    return "/" + name[len(ROOT) + 1 :] if name.startswith(ROOT + "/") else None


def loader_for(name: str, case_id: str) -> tuple[str, str | None]:
    """The case module that puts ``name`` into the page's module graph, and the URL path
    the page then loads (None when nothing imports the file)."""
    url = url_of(name)
    if name in LOADED_BY_BASE:
        return _EMPTY_CASE.replace("none", case_id), url
    if url is None or not url.startswith("/src/") or not name.endswith((*CODE, *STYLES, ".json")):
        return _EMPTY_CASE.replace("none", case_id), None
    spec = "./" + posixpath.relpath(name, posixpath.dirname(CASE_MODULE))
    spec = spec.replace("./../", "../")
    if name.endswith(CODE):
        body = _COMPONENTS_CASE.format(spec=spec)
    elif ".module." in posixpath.basename(name):
        body = _CSS_MODULE_CASE.format(spec=spec)
    elif name.endswith(STYLES):
        body = _STYLESHEET_CASE.format(spec=spec)
    else:
        body = _JSON_CASE.format(spec=spec)
    return f"// oracle case: {case_id}\n{body}", url


_COMPONENTS_CASE = """\
import {{ Guard }} from "./Guard";
import * as M from "{spec}";

const shown = Object.entries(M).filter(
  ([name, value]) =>
    typeof value === "function" && /^[A-Z]/.test(name === "default" ? value.name || "X" : name),
);

export default function OracleCase() {{
  return (
    <>
      {{shown.map(([name, C]) => (
        <Guard key={{name}}>
          <C />
        </Guard>
      ))}}
    </>
  );
}}
"""

_CSS_MODULE_CASE = """\
import styles from "{spec}";

export default function OracleCase() {{
  return <div className={{Object.values(styles).join(" ")}}>oracle</div>;
}}
"""

_STYLESHEET_CASE = """\
import "{spec}";

export default function OracleCase() {{
  return <div className="oracle">oracle</div>;
}}
"""

_JSON_CASE = """\
import data from "{spec}";

export default function OracleCase() {{
  return <pre hidden>{{JSON.stringify(data).length}}</pre>;
}}
"""


def plan_case(
    case_id: str,
    file: str,
    old: str | bytes | None,
    new: str | bytes | None,
    old_file: str | None = None,
) -> CasePlan:
    """The plan of one corpus case (``old`` None: added; ``new`` None: deleted)."""
    before = old_file or file
    plan = CasePlan()
    if old is not None:
        plan.setup[before] = _bytes(old)
        loader, plan.loads = loader_for(before, case_id)
    else:  # an added file: nothing imports it yet
        loader = _EMPTY_CASE.replace("none", case_id)
    plan.setup[CASE_MODULE] = loader.encode()
    if new is not None:
        plan.change[file] = _bytes(new)
    if before != file or new is None:
        plan.change[before] = None
    for name in {*plan.setup, *plan.change}:
        plan.restore[name] = _bytes(BASE[name]) if name in BASE else None
    return plan
