import pytest

from kontext_preview.config import Settings
from kontext_preview.proxy.proxy import PreviewHosts

SID = "abcdefghijklmnopqrstuvwxyz234567"


def test_development_urls() -> None:
    settings = Settings(port=8000)
    assert settings.preview_url(SID) == f"http://preview-{SID}.localhost:8000/"
    assert settings.ws_url(SID) == f"ws://preview-{SID}.localhost:8000/hmr"


def test_production_urls_behind_tls() -> None:
    settings = Settings(public_scheme="https", preview_domain="preview.example.com", public_port=0)
    assert settings.preview_url(SID) == f"https://preview-{SID}.preview.example.com/"
    assert settings.ws_url(SID) == f"wss://preview-{SID}.preview.example.com/hmr"
    on_443 = Settings(public_scheme="https", preview_domain="example.com", public_port=443)
    assert on_443.preview_url(SID) == f"https://preview-{SID}.example.com/"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (f"preview-{SID}.localhost:8000", SID),
        (f"preview-{SID}.localhost", SID),
        (f"PREVIEW-{SID}.LOCALHOST:8000", SID),
        (f"preview-{SID}.localhost.:8000", SID),
        ("localhost:8000", None),
        ("127.0.0.1:8000", None),
        (f"preview-{SID}.evil.com", None),
        (f"x.preview-{SID}.localhost", None),
        ("preview-.localhost", None),
        ("preview-ab_cd.localhost", None),
        (None, None),
        ("", None),
    ],
)
def test_preview_hosts_are_recognised_exactly(host: str | None, expected: str | None) -> None:
    assert PreviewHosts(Settings()).session_id(host) == expected


def test_a_custom_domain_is_matched_literally() -> None:
    hosts = PreviewHosts(Settings(preview_domain="preview.example.com"))
    assert hosts.session_id(f"preview-{SID}.preview.example.com") == SID
    assert hosts.session_id(f"preview-{SID}.previewXexample.com") is None
    assert hosts.session_id(f"preview-{SID}.localhost:8000") is None
