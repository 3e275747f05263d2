"""The Redis scripts distributed mode runs (``scripts/*.lua``), each called with named
keys and arguments instead of positional KEYS/ARGV.

Each ``.lua`` file's header says what it does, its KEYS and its ARGV in order; the
:class:`LuaScript` beside it names the same, and :meth:`LuaScript.bind` gives a callable
that runs it on a client (EVALSHA, loading it when Redis lacks it: redis-py's Script),
or queues it on a pipeline (``client=``).
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from kontext_preview.distributed.redis_client import RedisClient

SCRIPTS = Path(__file__).parent / "scripts"


@dataclass(frozen=True)
class LuaScript:
    name: str  # scripts/<name>.lua
    keys: tuple[str, ...]
    args: tuple[str, ...]

    @cached_property
    def source(self) -> str:
        return (SCRIPTS / f"{self.name}.lua").read_text()

    def bind(self, redis: RedisClient) -> "BoundScript":
        return BoundScript(self, redis.register_script(self.source))


@dataclass(frozen=True)
class BoundScript:
    script: LuaScript
    registered: Any  # redis-py's AsyncScript

    def __call__(self, *, client: Any = None, **named: Any) -> Any:
        """Run it (await the answer) with every key and argument by name; ``client``: a
        pipeline to queue it on. Raises TypeError for a name missing or unknown."""
        wanted = {*self.script.keys, *self.script.args}
        if set(named) != wanted:
            raise TypeError(
                f"{self.script.name}: missing {sorted(wanted - set(named))}, "
                f"unknown {sorted(set(named) - wanted)}"
            )
        return self.registered(
            keys=[named[k] for k in self.script.keys],
            args=[named[a] for a in self.script.args],
            client=client,
        )


ENQUEUE_UPDATE = LuaScript(
    "enqueue_update",
    keys=("session", "inbox", "events", "sessions", "payload"),
    args=(
        "request_id",
        "session_id",
        "expires_at",
        "event_type",
        "event_data",
        "events_kept",
        "wake_prefix",
        "seq_field",
    ),
)
ABANDON_REQUEST = LuaScript(
    "abandon_request", keys=("reply", "abandoned", "payload"), args=("ttl_seconds",)
)
MOVE_SESSION = LuaScript(
    "move_session",
    keys=("session", "from_sessions", "to_sessions", "events"),
    args=(
        "from_node",
        "to_node",
        "session_id",
        "status",
        "reason",
        "event_type",
        "event_data",
        "events_kept",
    ),
)
