"""Every event on a session's stream is a model (kontext_preview/event_models.py): the
union names every event type, a publisher's stray field or wrong value fails at once,
and what is stored is what was given (no field added)."""

import pydantic
import pytest

from kontext_preview import events as ev
from kontext_preview.event_models import EVENTS, SessionEvent
from kontext_preview.events import MemoryEventLog, event_data


def test_the_union_has_a_model_for_every_event_type_and_no_other() -> None:
    mapping = EVENTS.json_schema()["discriminator"]["mapping"]
    assert set(mapping) == set(ev.EVENT_TYPES)


def test_an_event_keeps_exactly_the_fields_given() -> None:
    data = event_data(ev.SESSION_STARTING, {"phase": "installing"})
    assert set(data) == {"type", "at", "phase"}
    assert data["type"] == ev.SESSION_STARTING
    applied = {
        "updateId": "u1",
        "seq": 3,
        "updated": ["src/App.tsx"],
        "deleted": [],
        "strategy": "preview-update",
        "batchSize": 1,
        "hmrTriggered": True,
        "restarted": False,
        "timings": {"writeMs": 0.4, "serverMs": 12.5},
        "browserAppliedMs": None,
        "browserAck": "update",
        "pages": 1,
    }
    assert {k: v for k, v in event_data(ev.UPDATE_APPLIED, applied).items() if k != "at"} == {
        "type": ev.UPDATE_APPLIED,
        **applied,
    }


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        (ev.SESSION_STARTING, {"phase": "installing", "progress": 3}),  # no such field
        (ev.SESSION_STARTING, {"phase": "booting"}),  # no such phase
        (ev.UPDATE_RECEIVED, {"updateId": "u", "seq": "three", "files": 1}),
        (ev.SESSION_READY, {}),  # previewUrl missing
        ("session.exploded", {}),  # no such event
    ],
)
def test_a_publisher_that_breaks_its_events_model_fails_at_once(
    type_: str, data: dict[str, object]
) -> None:
    log = MemoryEventLog()
    with pytest.raises(pydantic.ValidationError):
        log.publish("s1", type_, data)
    assert not log._logs.get("s1")


def test_a_session_event_reads_back_as_its_model() -> None:
    data = event_data(ev.PREVIEW_ERROR, {"kind": "compile", "message": "x", "line": 3})
    model: SessionEvent = EVENTS.validate_python(data)
    assert type(model).__name__ == "PreviewError" and model.line == 3  # type: ignore[union-attr]


def test_what_a_page_says_keeps_only_the_fields_its_model_takes() -> None:
    """A preview's page reports its errors through the agent: a field of the wrong type
    (the app's code may send anything) is left out, not allowed to break the stream."""
    from kontext_preview.event_models import salvaged

    said = {"kind": "runtime", "message": "boom", "line": "twelve", "column": 4}
    assert salvaged(ev.PREVIEW_ERROR, said) == {"kind": "runtime", "message": "boom", "column": 4}
    assert event_data(ev.PREVIEW_ERROR, salvaged(ev.PREVIEW_ERROR, said))["column"] == 4
