"""Files that feed the dev server's config are build configuration (issue 18, point 3).

Vite restarts its dev server when ``vite.config`` or any local file it imports changes
(``configFileDependencies``); the classifier must not call such an edit a preview update.
"""

from kontext_preview.changes import analyze, policy_named
from kontext_preview.changes.config_deps import config_dependencies

VITE_CONFIG = b"""import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { proxyTargets } from "./config/proxy";
const extra = require("./config/extra.cjs");
export default defineConfig({ plugins: [react()], server: { proxy: proxyTargets } });
"""
PROXY = b"""import { port } from "./ports.js";
export const proxyTargets = { "/api": `http://127.0.0.1:${port}` };
"""
PORTS = b"export const port = 4943;\n"
APP = b'export default function App() { return <h1 className="a">Hi</h1>; }\n'


def files() -> dict[str, bytes]:
    return {
        "vite.config.ts": VITE_CONFIG,
        "config/proxy.ts": PROXY,
        "config/ports.js": PORTS,
        "config/extra.cjs": b"module.exports = {};\n",
        "src/App.jsx": APP,
    }


def test_what_vite_config_imports_transitively_is_found() -> None:
    found = config_dependencies(files())
    assert found == {
        "config/proxy.ts": "vite.config.ts",
        "config/ports.js": "vite.config.ts",
        "config/extra.cjs": "vite.config.ts",
    }


def test_an_edit_of_a_file_vite_config_imports_is_build_config_under_both_policies() -> None:
    old = files()
    new = {**old, "config/ports.js": b"export const port = 8080;\n"}
    for policy, strategy in (("plan", "full-deploy"), ("hmr", "preview-update")):
        [result] = analyze(old, new, policy_named(policy)).files
        assert (result.change_class.value, result.strategy.value) == ("build-config", strategy)
        assert "vite.config.ts" in result.reasons[0]


def test_a_deleted_config_dependency_is_build_config() -> None:
    old = files()
    new = {k: v for k, v in old.items() if k != "config/extra.cjs"}
    [result] = analyze(old, new).files
    assert result.change_class.value == "build-config"


def test_a_tailwind_config_import_is_build_config() -> None:
    old = {
        "tailwind.config.js": b'import theme from "./theme";\nexport default { theme };\n',
        "theme.js": b'export default { colors: { brand: "#f00" } };\n',
    }
    new = {**old, "theme.js": b'export default { colors: { brand: "#00f" } };\n'}
    [result] = analyze(old, new).files
    assert result.change_class.value == "build-config"
    assert "tailwind.config.js" in result.reasons[0]


def test_an_app_module_stays_what_it_is() -> None:
    """The same style edit of a module no config imports is style-only, as before."""
    old = files()
    new = {**old, "src/App.jsx": APP.replace(b'"a"', b'"b"')}
    [result] = analyze(old, new).files
    assert result.change_class.value == "style-only"


def test_a_package_import_or_a_missing_file_is_not_followed() -> None:
    found = config_dependencies({"vite.config.js": b'import x from "./nowhere";\nimport "vite";\n'})
    assert found == {}
