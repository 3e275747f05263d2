"""What a visitor of a preview is shown (``Route.view``), which pages that stand in for the
app follow so that an open tab shows what a fresh load shows (issue 29). Pure: no server."""

from kontext_preview.contract import EXPIRED, Route, SessionStatus
from kontext_preview.pages import deploying, failed, follow_script, starting

ACTIVE = Route(status=SessionStatus.ACTIVE, host="127.0.0.1", port=5173)


def test_every_state_has_its_view() -> None:
    assert ACTIVE.view == "app"
    assert Route(status=SessionStatus.ACTIVE).view == "starting"  # no dev server address yet
    assert Route(status=SessionStatus.INSTALLING).view == "starting"
    assert Route(status=SessionStatus.HIBERNATED).view == "waking"
    assert Route(status=EXPIRED).view == "expired"
    failing = Route(status=SessionStatus.FAILED, error="vite.config threw")
    assert failing.view.startswith("failed:")
    deploying_ = failing.model_copy(update={"fallback": "vite.config threw"})
    assert deploying_.view.startswith("deploying:")
    both = deploying_.model_copy(update={"deploy_error": "vite build failed"})
    assert both.view.startswith("deploy-failed:")
    published = deploying_.model_copy(update={"deployment_url": "http://d/", "deployment": "d1"})
    assert published.view == "deployment:d1"


def test_another_reason_is_another_view() -> None:
    """A failure page whose reason changed (the same state) loads again too."""
    one = Route(status=SessionStatus.FAILED, error="npm install failed: E404 a")
    other = one.model_copy(update={"error": "npm install failed: E404 b"})
    assert one.view != other.view
    deploy = one.model_copy(update={"fallback": "x", "deploy_error": "build failed: 1"})
    assert deploy.view != deploy.model_copy(update={"deploy_error": "build failed: 2"}).view


def test_status_pages_follow_their_view() -> None:
    for page, view in (
        (starting("installing"), "starting"),
        (starting("hibernated"), "waking"),
        (failed("why", "failed:0badc0de"), "failed:0badc0de"),
        (deploying("why", "deploying:0badc0de"), "deploying:0badc0de"),
    ):
        body = page.body
        assert f"const shown = {view!r}".replace("'", '"') in body, body[-600:]
        assert "/__kontext/route" in body and "<noscript><meta http-equiv" in body
    assert "kontext:reload-seq" in follow_script("app", 1000)  # the next page acknowledges
