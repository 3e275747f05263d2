"""Public AI-built apps replayed commit by commit into a page opened once (issue 29).

Each commit is one update of one session; the page is opened once and never reloaded by the
test. After every step a fresh load of the same URL (a new browser context) is what the open
page must show, and the step's ``update.applied`` must say what the page did
(tests/replay/player.py). The histories are public repositories that AI app builders wrote
(Lovable, bolt.new, Dyad; found by their taggers, template commits and bot authors), read
from copies the search library's ``fetch`` brought to ``/work/.mirror`` (nothing of them is
kept in this repository). Their windows hold what broke live previews before: a package
added mid-history (the dev server restarts), imports that break at load and a later fix, a
peer-dependency conflict npm refuses, ``.env`` changes, dependencies Vite re-bundles,
deletions and renames, invalid and impossible package.json files.

``make test`` replays a sample (``SAMPLE``) on the local backend; ``-m replay`` replays them
all, and two of them through the Docker backend and in distributed mode.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.distributed.cluster import Cluster
from tests.replay.history import History
from tests.replay.player import Step, loopback_browser
from tests.replay.service import replay
from tests.server import ApiServer

pytestmark = [pytest.mark.browser, pytest.mark.vite, pytest.mark.network]

HISTORIES = {
    h.name: h
    for h in [
        History(
            "NUVoize/wan22-brkn-prompt-helper",
            steps=12,
            first=1,
            builder="Lovable",
            shows="the app replaced by an upload (React 19, Vite 6), a lock pinning "
            "lovable-tagger 1.1.9 beside Vite 6 (ERESOLVE) and its fix, invalid package.json "
            "three times, a package that does not exist (E404)",
        ),
        History(
            "1000Feet/your-concierge",
            steps=17,
            first=1,
            builder="Lovable",
            shows="Supabase added with .env and a page deleted in one turn, i18next, recharts, "
            "xlsx: new dependencies and re-bundles",
        ),
        History(
            "Deepanshu954/mystic-hues-journey",
            steps=19,
            first=1,
            builder="bolt.new, then Lovable",
            shows="lovable-tagger added and imported by vite.config in one commit, a missing "
            "named export at load and its fix, vite.config edits",
        ),
        History(
            "9jaDevo/edufund-connect",
            steps=16,
            first=36,
            builder="bolt.new",
            shows="JSX in a .ts file (twice) fixed by a rename, lazy routes to four pages that "
            "do not exist and their step-by-step fix, a new package, Vite's stray "
            "vite.config timestamp files",
        ),
        History(
            "AlphaCodex-ops/TerritoryWars.io",
            steps=15,
            first=1,
            builder="Dyad",
            shows="imports of undeclared packages and the two commits that add them, leaflet "
            "(with its CSS) and turf added, .env added, a page deleted (pnpm lock only)",
        ),
        History(
            "jordiboxxed-dev/paulaor",
            steps=26,
            first=1,
            builder="Dyad",
            shows="Supabase, vite-tsconfig-paths added and used by vite.config in one commit, "
            ".env changed five times (once dropping what a module needs at load), a module "
            "moved with its 15 importers",
        ),
        History(
            "9jaDevo/mAccessMap",
            steps=12,
            first=30,
            builder="bolt.new",
            shows="an imported module emptied (bolt's truncation) and restored, a JSX syntax "
            "error and its fix",
        ),
        History(
            "2050xfs/wild-gibbon-roll",
            steps=12,
            first=1,
            builder="Dyad",
            shows="a default import of a module without one, and its fix; renames outside the app",
        ),
        History(
            "mdn/todo-react",
            steps=15,
            first=201,
            builder="people (MDN)",
            shows="a plain React app, moved to Vite",
        ),
        History(
            "iboulahifall/vite-react-ojif4gpp",
            steps=12,
            first=27,
            skip=("dist/",),
            builder="StackBlitz template, people",
            shows="Supabase, a PWA service worker, a hook renamed",
        ),
        History(
            "pushkarpandey20-sys/vite-react-g6fcjidx",
            steps=12,
            first=4,
            skip=("android/", "ios/", "dist/"),
            builder="StackBlitz template, then an AI agent's commits",
            shows="the move to Vite 4, Supabase guarded against placeholder env values, "
            "many pages at once",
        ),
    ]
}
# What `make test` replays (local backend); the rest, and the other modes, with -m replay.
SAMPLE = ("wan22-brkn-prompt-helper", "your-concierge")
# Replayed through the Docker backend and in distributed mode too (-m replay).
OTHER_MODES = ("wan22-brkn-prompt-helper", "TerritoryWars.io")


def _params() -> Iterator[Any]:
    for name in HISTORIES:
        marks = [] if name in SAMPLE else [pytest.mark.replay]
        yield pytest.param(name, "local", marks=marks, id=f"{name}-local")
    for name in OTHER_MODES:
        yield pytest.param(
            name, "docker", marks=[pytest.mark.replay, pytest.mark.docker], id=f"{name}-docker"
        )
        yield pytest.param(
            name,
            "distributed",
            marks=[pytest.mark.replay, pytest.mark.distributed],
            id=f"{name}-distributed",
        )


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    """The replays' own Chromium: it resolves loopback only (tests/replay/player.py)."""
    with loopback_browser(playwright) as chromium:
        yield chromium


@pytest.fixture
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mode: str
) -> Iterator[ApiServer]:
    if mode == "local":
        yield request.getfixturevalue("embedded_server")
        return
    root = tmp_path_factory.mktemp(mode)
    if mode == "docker":
        server = ApiServer.start(root, sandbox_backend="docker", browser_ack_timeout_seconds=30)
        yield server
        server.stop()
        return
    cluster = Cluster.start(root, browser_ack_timeout_seconds=30)
    yield cluster.api
    cluster.stop()


def asked_for_replays(markexpr: str) -> bool:
    """Whether ``-m`` selects the replays (``replay``, ``replay or matrix``), not only names
    them to leave them out (the default ``not matrix and not oracle and not replay``)."""
    return re.search(r"(?<!not )\breplay\b", markexpr) is not None


@pytest.mark.timeout(3600)  # a long history with installs: tens of steps of a few seconds
@pytest.mark.parametrize(("name", "mode"), list(_params()))
def test_every_step_of_an_ai_built_history_shows_what_a_fresh_load_shows(
    request: pytest.FixtureRequest, service: ApiServer, browser: Any, name: str, mode: str
) -> None:
    history = HISTORIES[name]
    if not history.git_dir.exists():
        absent = f"{history.repo} is not at {history.git_dir}: bring it with the library's fetch"
        # A machine without the copies (CI reaches no GitHub) skips the sample; a run that
        # asked for the replays (-m replay) fails.
        if asked_for_replays(request.config.getoption("markexpr") or ""):
            pytest.fail(absent)
        pytest.skip(absent)
    steps = replay(service, browser, history, progress=lambda s: print(describe(s), flush=True))
    report = "\n".join(describe(s) for s in steps)
    unequal = [s for s in steps if not s.equal]
    untruthful = [s for s in steps if not s.truthful]
    assert not unequal and not untruthful, (
        f"{history.repo} ({mode}): {len(steps) - len(unequal)} of {len(steps)} steps equal, "
        f"{len(untruthful)} acknowledged untruthfully\n{report}"
    )


def describe(step: Step) -> str:
    state = "equal" if step.equal else f"live {step.live!r} / fresh {step.fresh!r}"
    shown = f"{step.shown_ms:.0f} ms" if step.shown_ms is not None else "-"
    extra = f" refused {step.refused}" if step.refused else ""
    notes = f" [{'; '.join(step.notes)}]" if step.notes else ""
    return (
        f"#{step.number} {step.commit} {step.subject!r}: {step.ack or '-'} x{step.pages} "
        f"{'reloaded ' if step.reloaded else ''}{shown} {state}{extra}{notes}"
    )
