import json

import pytest

from kontext_preview.errors import InvalidRequest, UnsupportedProject
from kontext_preview.workspace.layout import ProjectLayout, detect_layout

HTML = b"<!doctype html><div id=root></div>"


def package(*deps: str, dev: tuple[str, ...] = ()) -> bytes:
    return json.dumps(
        {"dependencies": {d: "*" for d in deps}, "devDependencies": {d: "*" for d in dev}}
    ).encode()


def test_kontext_projects_keep_the_app_in_src_frontend() -> None:
    layout = detect_layout(
        {
            "package.json": b'{"workspaces": ["src/frontend"]}',
            "dfx.json": b"{}",
            "src/backend/main.mo": b"actor {}",
            "src/frontend/index.html": HTML,
            "src/frontend/package.json": package("react", "react-dom", dev=("vite",)),
            "src/frontend/vite.config.ts": b"export default {}",
        }
    )
    assert layout == ProjectLayout(
        "src/frontend", "src/frontend", "vite-react", "src/frontend/vite.config.ts", "*"
    )


def test_icp_projects_keep_the_app_in_frontend() -> None:
    layout = detect_layout(
        {
            "frontend/index.html": HTML,
            "frontend/package.json": package("vue"),
            "backend/app.mo": b"",
        }
    )
    assert (layout.vite_root, layout.framework, layout.config_file) == (
        "frontend",
        "vite-vue",
        None,
    )


def test_plain_projects_have_the_app_at_the_root() -> None:
    layout = detect_layout({"index.html": HTML, "main.js": b"", "package.json": package("svelte")})
    assert (layout.vite_root, layout.package_dir, layout.framework) == ("", "", "vite-svelte")


def test_a_project_without_package_json_is_plain_vite() -> None:
    layout = detect_layout({"index.html": HTML, "main.js": b"console.log(1)"})
    assert layout.framework == "vite-vanilla"


def test_the_nearest_package_json_above_the_app_is_used() -> None:
    layout = detect_layout({"package.json": package("preact"), "app/web/index.html": HTML})
    assert (layout.vite_root, layout.package_dir, layout.framework) == (
        "app/web",
        "",
        "vite-preact",
    )


def test_other_folders_are_searched_shallowest_first() -> None:
    layout = detect_layout({"apps/site/index.html": HTML, "apps/site/deep/x/index.html": HTML})
    assert layout.vite_root == "apps/site"


def test_build_output_is_not_mistaken_for_the_app() -> None:
    with pytest.raises(UnsupportedProject, match=r"no index\.html"):
        detect_layout({"dist/index.html": HTML, "src/main.ts": b""})


def test_src_frontend_wins_over_the_root() -> None:
    layout = detect_layout({"index.html": HTML, "src/frontend/index.html": HTML})
    assert layout.vite_root == "src/frontend"


@pytest.mark.parametrize(
    ("files", "shown"),
    [
        ({"index.html": HTML, "package.json": package("nuxt", "vue")}, "Nuxt"),
        (
            {"angular.json": b"{}", "src/main.ts": b"", "package.json": package("@angular/core")},
            "Angular",
        ),
        ({"app/root.tsx": b"", "package.json": package("@remix-run/react")}, "Remix"),
        ({"public/index.html": HTML, "package.json": package("react-scripts")}, "Create React App"),
    ],
)
def test_frameworks_the_agent_cannot_run_yet_get_a_clear_refusal(
    files: dict[str, bytes], shown: str
) -> None:
    with pytest.raises(
        UnsupportedProject, match=f"this is a {shown} project: running it needs"
    ) as info:
        detect_layout(files)
    assert info.value.status_code == 422
    assert "served: Vite apps" in info.value.message


SVELTEKIT = {  # as `sv create --template minimal --types ts` writes it (sv 0.17)
    "package.json": json.dumps(
        {"devDependencies": {"@sveltejs/kit": "^2.63.0", "svelte": "^5.56.1", "vite": "^8.0.16"}}
    ).encode(),
    "vite.config.ts": b"export default {}",
    "src/app.html": b"<!doctype html><html><head>%sveltekit.head%</head></html>",
    "src/routes/+page.svelte": b"<h1>hi</h1>",
}
REACT_ROUTER = {  # framework mode, as its docs write it
    "package.json": json.dumps(
        {
            "dependencies": {"react-router": "^7.9.0"},
            "devDependencies": {"@react-router/dev": "^7.9.0"},
        }
    ).encode(),
    "vite.config.ts": b"export default {}",
    "react-router.config.ts": b"export default {}",
    "app/root.tsx": b"",
    "app/routes.ts": b"",
}


NEXT_APP = {  # as create-next-app 16.4 writes it (App Router)
    "package.json": json.dumps({"dependencies": {"next": "16.4.3", "react": "19.2.3"}}).encode(),
    "next.config.ts": b"export default {}",
    "app/layout.tsx": b"",
    "app/page.tsx": b"",
}
NEXT_PAGES = {  # the Pages Router, its config file only (an index.html in public/ is no app)
    "package.json": json.dumps({"dependencies": {"react": "^19.0.0"}}).encode(),
    "next.config.js": b"module.exports = {}",
    "pages/index.tsx": b"",
    "public/index.html": HTML,
}
ASTRO = {  # as Astro's docs write it: no vite.config, no index.html
    "package.json": json.dumps({"dependencies": {"astro": "^5.18.2"}}).encode(),
    "astro.config.mjs": b"export default {}",
    "src/pages/index.astro": b"<h1>hi</h1>",
}


@pytest.mark.parametrize(
    ("files", "framework", "version", "dev_server"),
    [
        (SVELTEKIT, "sveltekit", "^2.63.0", "vite"),
        (REACT_ROUTER, "react-router", "^7.9.0", "vite"),
        (ASTRO, "astro", "^5.18.2", "astro"),
        (NEXT_APP, "nextjs", "16.4.3", "next"),
        (NEXT_PAGES, "nextjs", None, "next"),
    ],
)
def test_frameworks_that_render_on_the_server_run_from_their_package_folder(
    files: dict[str, bytes], framework: str, version: str, dev_server: str
) -> None:
    layout = detect_layout(files)
    assert (layout.framework, layout.framework_version) == (framework, version)
    assert layout.dev_server == dev_server
    config = "vite.config.ts" if "vite.config.ts" in files else None
    assert (layout.vite_root, layout.package_dir, layout.config_file) == ("", "", config)
    inside = detect_layout({f"src/frontend/{name}": data for name, data in files.items()})
    assert (inside.vite_root, inside.package_dir) == ("src/frontend", "src/frontend")


def test_a_vite_apps_version_is_vites() -> None:
    files = {"index.html": HTML, "package.json": b'{"devDependencies": {"vite": "^7.1.0"}}'}
    assert detect_layout(files).framework_version == "^7.1.0"


def test_a_project_without_index_html_is_refused() -> None:
    with pytest.raises(UnsupportedProject, match=r"no index\.html"):
        detect_layout({"main.py": b"print()", "requirements.txt": b""})


def test_a_broken_package_json_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match=r"package\.json is not valid JSON"):
        detect_layout({"index.html": HTML, "package.json": b"{nope"})
    with pytest.raises(InvalidRequest, match="dependencies must be an object"):
        detect_layout({"index.html": HTML, "package.json": b'{"dependencies": ["react"]}'})
