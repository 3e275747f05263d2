"""A history played into one open page, each step judged against a fresh load (issue 29).

The page is opened once and never reloaded by the player. After each step, a new browser
context loads the same URL (nothing cached, no service worker) and what it shows is the
expected value; the open page must come to show it too. What a page shows is its visible
text and, per element of the app's root, the computed styles a stale module or stylesheet
would change; a page showing an error (Vite's overlay, or a status page of the service)
shows an error, whose wording may differ (an update that failed to apply and a load that
failed name the same fault differently).

Both the replay tests (through kontext-preview, tests/replay/test_public_histories.py) and
the benchmark beside plain Vite (benchmarks/replay.py) play histories with this module.
The browser reaches nothing but loopback (fonts, CDNs and APIs an app asks for are
aborted, the same for the open page and the fresh load).
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import CHROMIUM, CHROMIUM_ARGS

LOOPBACK_ONLY = (
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE *.localhost"
    " , EXCLUDE 127.0.0.1"
)

OVERLAY = "document.querySelector('vite-error-overlay')"
STATUS_PAGE = "document.querySelector('[data-kontext-page]')"
ROOT = "(document.querySelector('#root') ?? document.querySelector('#app') ?? document.body)"
# The page has settled: loaded, and the app rendered, loaded (our client's check: an app may
# render nothing at first) or failed (an overlay), or the service answers with one of its
# pages.
READY = f"""() => document.readyState === 'complete' && (
  {OVERLAY} !== null || {STATUS_PAGE} !== null || typeof window.__kontext?.loaded === 'boolean'
  || {ROOT}.querySelector('*') !== null)"""
# What a page shows. Errors by their text, without what differs between two loads of the
# same files (module timestamps and versions, the host, the sandbox's absolute paths).
SHOWN = f"""() => {{
  const normal = (text) => (text ?? '').replace(/[?&](t|v)=[\\w.]+/g, '')
    .replace(/https?:\\/\\/[^/\\s]+/g, '').replace(/\\S*\\/workspace\\//g, '/')
    .replace(/\\s+/g, ' ').trim().slice(0, 600);
  const overlay = {OVERLAY};
  if (overlay) {{
    const root = overlay.shadowRoot;
    const message = root?.querySelector('.message')?.textContent;
    return 'error: ' + normal(message);
  }}
  const status = {STATUS_PAGE};
  if (status) return 'page: ' + status.dataset.kontextPage + ' ' + normal(status.textContent);
  return [...{ROOT}.querySelectorAll('*')].filter((e) => e.checkVisibility?.() ?? true)
    .map((e) => {{
      const s = getComputedStyle(e);
      return [e.tagName, e.id, typeof e.className === 'string' ? e.className : '',
              e.childElementCount ? '' : normal(e.textContent), s.color, s.backgroundColor,
              s.fontWeight, s.textDecorationLine, s.display].join('|');
    }}).join('\\n');
}}"""
# Whether two pages show the same: equal, or both an error overlay (its wording may differ:
# an update that failed to apply and a load that failed name the same fault differently).
SAME = """(a, b) => a === b || (a.startsWith('error: ') && b.startsWith('error: '))"""
# In every page the player opens: what the page shows (SHOWN, hashed) each time the DOM
# changed, at most once a frame, with when (ms since the epoch), so a step can be timed from
# its sending to the page first showing what the fresh load shows. A reload starts afresh.
HASH = """(text) => {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
  return h;
}"""
RECORDER = f"""(() => {{
  const shown = {SHOWN};
  const hash = {HASH};
  const log = (window.__replayShown = []);
  let queued = false;
  const note = () => {{
    if (queued) return;
    queued = true;
    const take = () => {{
      queued = false;
      const now = shown();
      log.push([performance.timeOrigin + performance.now(), hash(now), now.startsWith('error: ')]);
      if (log.length > 2000) log.splice(0, 1000);
    }};
    document.hidden ? setTimeout(take, 16) : requestAnimationFrame(take);
  }};
  window.__replayFirstShown = (expected, since) => {{
    const want = hash(expected);
    const error = expected.startsWith('error: ');
    return log.find(([at, h, e]) => at >= since && (h === want || (error && e)))?.[0] ?? null;
  }};
  addEventListener('DOMContentLoaded', () => {{
    note();
    new MutationObserver(note).observe(document, {{
      subtree: true, childList: true, characterData: true, attributes: true,
    }});
  }});
}})();"""
FRESH_TIMEOUT_MS = 30_000
LINGER_S = 10.0  # a second fresh load's extra time (React Query's 3 retries: about 7 s)
SETTLE_S = 0.3


@contextmanager
def loopback_browser(playwright: Any = None) -> Iterator[Any]:
    """Chromium (the suite's flags) that resolves no host but loopback's, launched from
    ``playwright`` (a running sync Playwright; one thread can hold only one) or from its own."""
    if playwright is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as own, loopback_browser(own) as browser:
            yield browser
        return
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, LOOPBACK_ONLY]
    )
    try:
        yield browser
    finally:
        browser.close()


def new_page(browser: Any) -> tuple[Any, Any]:
    context = browser.new_context()
    context.add_init_script(RECORDER)
    return context, context.new_page()


def settle(page: Any, timeout_ms: float = FRESH_TIMEOUT_MS) -> None:
    """Until the page is ready (READY; an app that shows nothing for ``timeout_ms`` is taken
    as it is) and its network quiet (within 10 s: some apps poll)."""
    with contextlib.suppress(Exception):
        page.wait_for_function(READY, timeout=timeout_ms)
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=10_000)
    time.sleep(SETTLE_S)


def fresh_load(browser: Any, url: str, linger_s: float = 0.0) -> str:
    """What a new browser context shows for ``url``, settled (and ``linger_s`` more: an app's
    own timers, such as a data library's retries before it shows a failure, move it on). A
    page that loads itself again meanwhile (a dev server that was re-bundling) is settled
    again."""
    context, page = new_page(browser)
    try:
        page.goto(url)
        settle(page)
        time.sleep(linger_s)
        for attempt in range(3):
            try:
                shown: str = page.evaluate(SHOWN)
                return shown
            except Exception:
                if attempt == 2:
                    raise
                settle(page)
        raise AssertionError("unreachable")
    finally:
        context.close()


class OpenPage:
    """The page opened once: it is never reloaded by the player."""

    def __init__(self, browser: Any, url: str):
        self.url = url
        self.context, self.page = new_page(browser)
        self.page.goto(url)
        settle(self.page)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)[:300]))

    def mark(self) -> None:
        """Note the page as it is: a reload after this drops the mark."""
        self.page.evaluate("window.__replayMark = true")

    def reloaded(self) -> bool:
        return not self.page.evaluate("window.__replayMark === true")

    def shown(self) -> str:
        value: str = self.page.evaluate(SHOWN)
        return value

    def comes_to(self, expected: str, timeout_ms: float) -> bool:
        """Whether the page shows ``expected`` within ``timeout_ms``. Scrolled to the top
        first, where a fresh load is (where a page is scrolled is the user's state, which
        HMR keeps, and some apps draw by it)."""
        with contextlib.suppress(Exception):
            self.page.evaluate("window.scrollTo(0, 0)")
        try:
            self.page.wait_for_function(
                f"() => ({SAME})(({SHOWN})(), {expected!r})", timeout=timeout_ms, polling=100
            )
        except Exception:
            return False
        return True

    def first_shown(self, expected: str, since_ms: float) -> float | None:
        """When the page first showed ``expected`` after ``since_ms`` (ms since the epoch)."""
        value: float | None = self.page.evaluate(
            "([e, s]) => window.__replayFirstShown?.(e, s) ?? null", [expected, since_ms]
        )
        return value

    def close(self) -> None:
        self.context.close()


@dataclass
class Step:
    """One commit replayed, as the page took it."""

    number: int  # on the first-parent line, the root being 1
    commit: str
    subject: str
    changed: int  # files written or deleted
    equal: bool  # the open page came to show what a fresh load shows
    live: str = ""  # what it showed, if not equal (first difference)
    fresh: str = ""
    ack: str = ""  # update.applied's browserAck ('' for plain Vite)
    pages: int = 0
    reloaded: bool = False  # the open page loaded again during the step
    shown_ms: float | None = None  # from sending the step to the page's last change
    refused: str = ""  # the service refused the update (status and code)
    truthful: bool = True  # the acknowledgement matches what the page did
    notes: list[str] = field(default_factory=list)


def judge_ack(step: Step, shown: str) -> None:
    """Whether ``step.ack`` says what the page did, given what it ``shown`` at the end:
    ``update``/``css`` only for a page that stayed and shows no error, ``reload`` for one
    that loaded again, ``error`` for one that shows an error (its overlay, a failure page)
    or nothing (an app that threw as it rendered), ``unaffected`` for one that shows what a
    fresh load shows; ``none`` never (a page is open)."""
    ack = step.ack
    error_shown = shown.startswith(("error: ", "page: "))
    if step.refused:
        step.truthful = ack == ""
    elif ack in ("update", "css"):
        step.truthful = not step.reloaded and not error_shown
    elif ack == "reload":
        step.truthful = step.reloaded
    elif ack == "error":
        step.truthful = error_shown or shown == ""
    elif ack == "unaffected":  # a reload then was for something else (a re-bundle before)
        step.truthful = step.equal
    else:
        step.truthful = False
    if not step.truthful:
        step.notes.append(f"ack {ack!r}, reloaded {step.reloaded}, page shows {shown[:80]!r}")


def first_difference(live: str, fresh: str) -> tuple[str, str]:
    for a, b in zip(live.splitlines(), fresh.splitlines(), strict=False):
        if a != b:
            return a[:300], b[:300]
    return f"{len(live.splitlines())} elements"[:300], f"{len(fresh.splitlines())} elements"


def settled_step(
    page: OpenPage,
    step: Step,
    fresh: Callable[[float], str],
    sent_at: float,
    timeout_ms: float,
) -> None:
    """Fill in ``step`` once the open page has had ``timeout_ms`` to show what a fresh load
    shows. A preview whose state moved on meanwhile (a fallback deployment finishing, say)
    is loaded fresh once more: what counts is that the two agree."""
    expected = fresh(0.0)
    step.equal = page.comes_to(expected, timeout_ms)
    if not step.equal:  # again, given the app's own timers as long as the open page had
        expected = fresh(LINGER_S)
        step.equal = page.comes_to(expected, 5_000)
    step.reloaded = page.reloaded()
    step.fresh = expected
    if not step.equal:
        step.live, step.fresh = first_difference(page.shown(), expected)
        return
    shown_at = page.first_shown(expected, sent_at * 1000)
    step.shown_ms = round(shown_at - sent_at * 1000, 1) if shown_at else None
