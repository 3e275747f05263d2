"""The status pages (:mod:`kontext_preview.pages` says what each shows) as responses."""

from starlette.responses import HTMLResponse

from kontext_preview.pages import Page


def page_response(page: Page) -> HTMLResponse:
    return HTMLResponse(page.body, status_code=page.status, headers=dict(page.headers))
