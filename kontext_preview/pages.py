"""The pages a browser sees instead of the app when the app cannot answer (never a bare 502).

Each is a :class:`Page`: its status, HTML and headers, as data; the HTTP surface that
serves it (``proxy/``) makes the response.
"""

import html
import json
from dataclasses import dataclass

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; color: #1f2937; display: grid;
       place-items: center; min-height: 90vh; margin: 0; background: #f9fafb; }}
main {{ max-width: 36rem; padding: 2rem; }}
pre {{ white-space: pre-wrap; background: #fff; border: 1px solid #e5e7eb; padding: 1rem; }}
</style></head>
<body><main data-kontext-page="{kind}"><h1>{title}</h1><p>{text}</p>{detail}</main>
{follow}</body></html>
"""

# A page that stands in for the app follows what the preview shows (the route's ``view``,
# kontext_preview.contract.Route.view, at /__kontext/route) and loads again as soon as it
# changes: an open tab shows what a fresh load shows, whichever state it was opened in
# (issue 29). The meta refresh is the fallback without scripts.
FOLLOW_SCRIPT = """<script>(() => {
  const shown = %s;
  const check = async () => {
    try {
      const answer = await fetch("/__kontext/route", { cache: "no-store" });
      const route = await answer.json();
      if (route.view !== shown) {
        // The page the preview shows next acknowledges the update that started it, if any.
        try { sessionStorage.setItem("kontext:reload-seq", "launch"); } catch {}
        return location.reload();
      }
    } catch {}
    setTimeout(check, %d);
  };
  setTimeout(check, %d);
})();</script>"""


@dataclass(frozen=True)
class Page:
    """A status page: served as ``text/html`` with ``status`` and ``headers``."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]


def follow_script(view: str, every_ms: int) -> str:
    """The script that reloads a page once the preview's view is no longer ``view``."""
    return FOLLOW_SCRIPT % (json.dumps(view), every_ms, every_ms)


def _page(
    status: int,
    kind: str,
    title: str,
    text: str,
    detail: str = "",
    *,
    view: str | None = None,
    every_ms: int = 1000,
) -> Page:
    """A status page; ``view``: the route's view it shows, followed every ``every_ms``."""
    refresh = max(1, every_ms // 1000)
    body = _PAGE.format(
        kind=kind,
        title=html.escape(title),
        text=html.escape(text),
        detail=f"<pre>{html.escape(detail)}</pre>" if detail else "",
        refresh=f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>'
        if view
        else "",
        follow=follow_script(view, every_ms) if view else "",
    )
    headers = [("cache-control", "no-store")]
    if view and status == 503:
        headers.append(("retry-after", str(refresh)))
    return Page(status, body, tuple(headers))


def not_found() -> Page:
    return _page(
        404,
        "not-found",
        "No such preview",
        "This preview does not exist: it was ended, or the link is wrong.",
    )


def starting(status: str, reason: str | None = None) -> Page:
    """``reason``: why it is starting again, when it is not its first start (its node
    stopped answering, say)."""
    if status == "hibernated":
        return _page(
            503,
            "waking",
            "Waking up the preview…",
            "This preview was asleep after a while without use. It is starting again; "
            "this page refreshes itself.",
            view="waking",
            every_ms=250,
        )
    what = "Installing dependencies" if status == "installing" else "Starting the dev server"
    return _page(
        503,
        "starting",
        "Preview starting…",
        f"{what}. This page refreshes itself.",
        detail=reason or "",
        view="starting",
        every_ms=250,
    )


def expired() -> Page:
    return _page(
        410,
        "expired",
        "This preview has expired",
        "It was not used for a long time and was cleaned up. Ask the chat to open the "
        "preview again: it is restored from the project's files.",
        view="expired",
        every_ms=2000,
    )


def deploying(reason: str, view: str) -> Page:
    return _page(
        503,
        "deploying",
        "The live preview is unavailable: deploying instead…",
        "The dev server could not serve this project, so a full build is being deployed. "
        "This page moves to it when it is up.",
        detail=reason,
        view=view,
        every_ms=500,
    )


def not_deployed() -> Page:
    return _page(
        404, "not-deployed", "Nothing deployed here", "No deployment is published at this address."
    )


def error_page(status: int, text: str) -> Page:
    return _page(status, "error", "Request not served", text)


def failed(reason: str, view: str) -> Page:
    return _page(
        502,
        "failed",
        "The preview could not start",
        "The project's dev server is not running. Fix the cause below and push an update: "
        "this page shows the preview by itself once it runs.",
        detail=reason,
        view=view,
        every_ms=1000,
    )


def unreachable(reason: str) -> Page:
    return _page(
        502,
        "unreachable",
        "The preview is not answering",
        "The dev server did not answer; this page retries by itself.",
        detail=reason,
        view="unreachable",
        every_ms=2000,
    )
