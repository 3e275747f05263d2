"""The pages a browser sees instead of the app when the app cannot answer (never a bare 502)."""

import html

from starlette.responses import HTMLResponse

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
{poll}</body></html>
"""

# On "please wait" pages (503): ask again every 250 ms and reload as soon as the answer is
# anything else, so the app appears as soon as it is up (the meta refresh is the fallback
# without scripts). `redirect: manual` turns the fallback's redirect into a reload too.
_POLL = """<script>
(function poll() {
  setTimeout(function () {
    fetch(location.href, { cache: "no-store", redirect: "manual" })
      .then(function (r) { if (r.status !== 503) location.reload(); else poll(); })
      .catch(poll);
  }, 250);
})();
</script>"""


def _page(
    status: int, kind: str, title: str, text: str, detail: str = "", refresh: int = 0
) -> HTMLResponse:
    body = _PAGE.format(
        kind=kind,
        title=html.escape(title),
        text=html.escape(text),
        detail=f"<pre>{html.escape(detail)}</pre>" if detail else "",
        refresh=f'<meta http-equiv="refresh" content="{refresh}">' if refresh else "",
        poll=_POLL if status == 503 else "",
    )
    headers = {"cache-control": "no-store"}
    if refresh:
        headers["retry-after"] = str(refresh)
    return HTMLResponse(body, status_code=status, headers=headers)


def not_found() -> HTMLResponse:
    return _page(
        404,
        "not-found",
        "No such preview",
        "This preview does not exist: it was ended, or the link is wrong.",
    )


def starting(status: str) -> HTMLResponse:
    if status == "hibernated":
        return _page(
            503,
            "waking",
            "Waking up the preview…",
            "This preview was asleep after a while without use. It is starting again; "
            "this page refreshes itself.",
            refresh=1,
        )
    what = "Installing dependencies" if status == "installing" else "Starting the dev server"
    return _page(
        503, "starting", "Preview starting…", f"{what}. This page refreshes itself.", refresh=1
    )


def expired() -> HTMLResponse:
    return _page(
        410,
        "expired",
        "This preview has expired",
        "It was not used for a long time and was cleaned up. Ask the chat to open the "
        "preview again: it is restored from the project's files.",
    )


def deploying(reason: str) -> HTMLResponse:
    return _page(
        503,
        "deploying",
        "The live preview is unavailable: deploying instead…",
        "The dev server could not serve this project, so a full build is being deployed. "
        "This page moves to it when it is up.",
        detail=reason,
        refresh=2,
    )


def not_deployed() -> HTMLResponse:
    return _page(
        404, "not-deployed", "Nothing deployed here", "No deployment is published at this address."
    )


def error_page(status: int, text: str) -> HTMLResponse:
    return _page(status, "error", "Request not served", text)


def failed(reason: str) -> HTMLResponse:
    return _page(
        502,
        "failed",
        "The preview could not start",
        "The project's dev server is not running. Fix the cause below and push an update: "
        "this page shows the preview by itself once it runs.",
        detail=reason,
        refresh=3,
    )


def unreachable(reason: str) -> HTMLResponse:
    return _page(
        502,
        "unreachable",
        "The preview is not answering",
        "The dev server did not answer; this page retries by itself.",
        detail=reason,
        refresh=2,
    )
