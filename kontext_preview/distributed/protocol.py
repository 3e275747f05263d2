"""The distributed protocol: what the API and the worker nodes say to each other, written once.

Both sides import this module; neither reads or writes these records field by field.
``docs/ARCHITECTURE.md`` has the same as a table (key or message, writer, reader,
model); the keys themselves are in :mod:`kontext_preview.distributed.keys`.

* :class:`SessionRecord`: a session's registry hash (``session:<id>``), written by its
  worker node, read by the API (status, routing) and beat; ``updateSeq`` is the one
  field the API writes (its enqueue script numbers each update).
* :class:`RequestMeta`: a create's or update's metadata in its payload hash
  (``payload:<request>``, beside the files), written by the API, read by the worker.
* :class:`Reply`: the worker's answer on ``reply:<request>``, read by the API.
* :class:`NodeBeat`: a node's heartbeat in the ``nodes`` hash.
* The Celery task names (``*_TASK``) and queues.
"""

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from kontext_preview.contract import SessionFacts, SessionStatus

# ruff: noqa: N815  (the stored field names are camelCase, as the API's)

# -- Celery: task names and queues ---------------------------------------------------------------

CREATE_TASK = "kontext.create_session"  # args: session id, request id
APPLY_UPDATES_TASK = "kontext.apply_updates"  # args: session id (applies its inbox)
DELETE_TASK = "kontext.delete_session"  # args: session id, request id or None, reason
RESUME_TASK = "kontext.resume_session"  # args: session id
REAP_EXPIRED_TASK = "kontext.reap_expired"  # beat's periodic cull, on CONTROL_QUEUE
CONTROL_QUEUE = "kontext.control"  # consumed by every worker


def node_queue(node: str) -> str:
    """The queue of the sessions one worker node hosts."""
    return f"kontext.node.{node}"


# -- the session record ------------------------------------------------------------------------


class SessionRecord(SessionFacts):
    """A session's registry hash: what is told of it (:class:`SessionFacts`) and where it
    runs. Stored as strings: ``None`` as "", numbers as text, ``deployments`` and
    ``warnings`` as JSON."""

    status: SessionStatus  # a live session's (never "expired")
    framework: str = "vite"
    node: str
    owner: str
    host: str | None = None  # where the dev server listens, while it runs
    port: int | None = None
    createdAt: float = 0.0  # unix s
    ttl: int = 0  # s
    updateSeq: int = 0  # written by the API's enqueue script only (HINCRBY)

    @field_validator(
        "error", "projectType", "host", "port", "deploymentUrl", "fallback", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("deployments", "warnings", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        return json.loads(value or "[]") if isinstance(value, str | bytes) else value

    def to_hash(self) -> dict[str, str]:
        """The fields a worker writes (all but ``updateSeq``), as the hash stores them."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(
            exclude={"updateSeq", "deployments", "warnings"}
        ).items():
            out[name] = (
                "" if value is None else repr(value) if isinstance(value, float) else str(value)
            )
        out["deployments"] = json.dumps([d.model_dump() for d in self.deployments])
        out["warnings"] = json.dumps(self.warnings)
        return out

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> "SessionRecord | None":
        """The record as read with HGETALL; None if there is none (or only a stray
        ``updateSeq`` left by an update racing the session's removal)."""
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if "id" not in fields:
            return None
        return cls.model_validate(fields)


class EndedNote(BaseModel):
    """How a session ended (``ended:<id>``, for its owner), kept for
    :func:`~kontext_preview.contract.ended_retention_seconds`."""

    owner: str
    reason: str  # session.expired | session.deleted

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> "EndedNote | None":
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return cls.model_validate(fields) if "reason" in fields else None


# -- requests: payload in, reply out ---------------------------------------------------------------


class RequestMeta(BaseModel):
    """What a request's payload hash holds beside the files."""

    kind: Literal["create", "update"]
    receivedAt: float  # unix s, when the API received it
    owner: str = ""  # create
    packageJson: dict[str, Any] | None = None
    projectType: str | None = None  # create
    keepId: bool = False  # create: a restore keeps its id (else a warm slot's may stand in)
    deleted: list[str] = Field(default_factory=list)  # update
    replaceAll: bool = False  # update: files not sent are deleted
    seq: int = 0  # update: the number the API's enqueue script gave it


class ReplyError(BaseModel):
    code: str
    message: str
    status: int


class Reply(BaseModel):
    """A worker's answer: ``result`` (the created session's record, the update's outcome,
    {} for a delete) or ``error`` (a KontextError's code, message and HTTP status)."""

    ok: bool
    result: dict[str, Any] | None = None
    error: ReplyError | None = None


# -- nodes -------------------------------------------------------------------------------------


class NodeBeat(BaseModel):
    """A worker node's heartbeat (``nodes`` hash, by node name), every
    ``node_heartbeat_seconds``; a node silent for three beats is gone."""

    queue: str
    address: str  # where its dev servers are reached (KONTEXT_NODE_ADDRESS)
    sessions: int
    capacity: int  # KONTEXT_MAX_SESSIONS
    heartbeat: float  # unix s
    statuses: dict[str, int] = Field(default_factory=dict)  # sessions by status, "warm" slots

    def alive(self, heartbeat_seconds: float, now: float) -> bool:
        return now - self.heartbeat < 3 * heartbeat_seconds + 1
