"""Dependency specs as npm reads them (npm-package-arg through sandbox-images/agent/specs.mjs):
every form npm installs from the registry is accepted, what it cannot install safely from
there is refused with the package and the reason. Real specs from create-vite templates,
ICP examples and AI-built apps."""

import json

import pytest

from kontext_preview.errors import InvalidRequest, UnsupportedProject
from kontext_preview.workspace.layout import dependency_names
from kontext_preview.workspace.npm_specs import refused_specs

ACCEPTED = [
    ("typescript", "~5.8.3"),  # every TypeScript template of create-vite 6-8
    ("typescript", "~5.6.2"),
    ("@icp-sdk/core", "~5.2.0"),  # Internet Computer examples
    ("vite", "5.4.11"),
    ("vite", "^5.4.10"),
    ("react", "^18.3.1"),
    ("react", "18.x"),
    ("react", "18"),
    ("react", "*"),
    ("react", ""),
    ("react", "x"),
    ("react", "latest"),
    ("react", "next"),
    ("react", "canary"),
    ("react-dom", ">=18 <20"),
    ("react-dom", ">=18.2.0"),
    ("react-dom", "<19"),
    ("react-dom", "^18.2.0 || ^19.0.0"),
    ("date-fns", "1.0.0 - 3.6.0"),
    ("zod", "~3"),
    ("zod", "^3.23.8"),
    ("zod", "3.23.x"),
    ("lucide-react", "0.462.0"),
    ("lucide-react", "=0.462.0"),
    ("lucide-react", "v0.462.0"),
    ("@radix-ui/react-dialog", "^1.1.2"),
    ("tailwindcss", "^3.4.11"),
    ("@tailwindcss/vite", "^4.1.0"),
    ("@vitejs/plugin-react-swc", "^3.5.0"),
    ("react-19", "npm:react@^19.0.0"),
    ("string-width-cjs", "npm:string-width@^4.2.0"),
    ("lodash", "npm:lodash@latest"),
    ("shared", "file:./shared"),
    ("shared", "file:shared"),
    ("shared", "./packages/shared"),
    ("shared", "file:../frontend/lib"),  # from frontend/: still inside the project
]

REFUSED = [
    ("left-pad", "git+https://example.com/x.git", "git repository"),
    ("left-pad", "git+ssh://git@github.com/a/b.git", "git repository"),
    ("left-pad", "github:facebook/react", "git repository"),
    ("left-pad", "facebook/react", "git repository"),
    ("left-pad", "https://example.com/x.tgz", "comes from a URL"),
    ("left-pad", "http://127.0.0.1:1/x.tgz", "comes from a URL"),
    ("left-pad", "file:../../etc", "points outside the project"),
    ("left-pad", "/etc", "points outside the project"),
    ("left-pad", "~/secrets", "points outside the project"),
    ("left-pad", "link:../shared", "npm does not install link: specs"),
    ("shared", "workspace:*", "npm does not install workspace: specs"),
    ("left-pad", "npm:git+https://example.com/x.git", "npm cannot read this spec"),
    ("Bad Name", "1.0.0", "is not a valid npm package name"),
    ("../evil", "1.0.0", "is not a valid npm package name"),
]


def test_the_table_has_thirty_real_specs() -> None:
    assert len(ACCEPTED) + len(REFUSED) >= 30


@pytest.mark.parametrize(("name", "spec"), ACCEPTED)
def test_npm_registry_and_in_project_specs_are_accepted(name: str, spec: str) -> None:
    assert refused_specs({"dependencies": {name: spec}}, "frontend") == []
    package = {"dependencies": {name: spec}}
    assert dependency_names(package, "frontend") == {name}


@pytest.mark.parametrize(("name", "spec", "reason"), REFUSED)
def test_what_npm_cannot_install_safely_from_the_registry_is_refused(
    name: str, spec: str, reason: str
) -> None:
    [refused] = refused_specs({"devDependencies": {name: spec}}, "frontend")
    assert refused["name"] == name and refused["section"] == "devDependencies"
    assert reason in refused["reason"], refused
    with pytest.raises(InvalidRequest) as caught:
        dependency_names({"devDependencies": {name: spec}}, "frontend")
    assert name in caught.value.message and reason in caught.value.message


def test_a_create_vite_typescript_package_json_passes_whole() -> None:
    package = json.loads(
        '{"dependencies": {"react": "^19.1.0", "react-dom": "^19.1.0"}, "devDependencies": '
        '{"@eslint/js": "^9.25.0", "@types/react": "^19.1.2", "@vitejs/plugin-react": '
        '"^4.4.1", "eslint-plugin-react-hooks": "^5.2.0", "globals": "^16.0.0", '
        '"typescript": "~5.8.3", "typescript-eslint": "^8.30.1", "vite": "^6.3.5"}}'
    )
    assert "typescript" in dependency_names(package)


def test_several_refusals_are_counted_in_the_message() -> None:
    package = {"dependencies": {"a": "github:x/a", "b": "https://x.test/b.tgz", "c": "^1"}}
    with pytest.raises(InvalidRequest, match=r"a comes from a git repository.*\(and 1 more\)"):
        dependency_names(package)


@pytest.mark.parametrize("spec", ["^3.2.0", "2.9.15", "~3.0", "<4", "npm:vite@^3"])
def test_a_vite_before_4_is_an_unsupported_project(spec: str) -> None:
    with pytest.raises(UnsupportedProject) as caught:
        dependency_names({"devDependencies": {"vite": spec}})
    assert caught.value.status_code == 422
    assert "previews run Vite 4.x to 8.x" in caught.value.message


@pytest.mark.parametrize("spec", ["^4.4.5", "5.4.11", ">=3", "^3 || ^5", "latest", "*"])
def test_a_vite_range_that_reaches_4_or_later_is_accepted(spec: str) -> None:
    assert dependency_names({"devDependencies": {"vite": spec}}) == {"vite"}
