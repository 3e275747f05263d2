"""A dead node's sessions move to live nodes.

Every live worker node looks, after each of its heartbeats, for nodes whose heartbeat
stopped (older than :meth:`~kontext_preview.distributed.protocol.NodeBeat.alive` allows:
3 beats and a second). Each session such a node hosted is given to the live node with
the most room, in one Redis script (``scripts/move_session.lua``) that checks it is still
the dead node's (two live nodes looking at once move it once): the record says
``starting`` with the reason, no dev server, and the new node; the session leaves the dead
node's set for the new one's.
The new node is then sent the session's ``apply_updates`` task, which restores it from
its committed files and applies whatever its inbox holds (updates accepted while its
node was dead included), as a restarted node does for its own sessions. A dead node with
no sessions left is removed from the nodes hash (it is added again if it beats again).

With one node there is no live node to move to: its sessions wait for it to restart.
"""

import json
import logging
import time
from collections.abc import Callable

from kontext_preview import events as ev
from kontext_preview.contract import SessionStatus
from kontext_preview.distributed import registry
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.lua import MOVE_SESSION
from kontext_preview.distributed.redis_client import RedisClient

log = logging.getLogger(__name__)


async def fail_over(
    redis: RedisClient,
    keys: Keys,
    heartbeat_seconds: float,
    restore_on: Callable[[str, str], None],
    events_kept: int = 1000,
) -> list[tuple[str, str, str]]:
    """Move every dead node's sessions to live nodes; ``restore_on(session_id, node)``
    sends the new node its task. Each moved session's stream gets ``session.starting``
    with the reason (``events_kept``: the stream's approximate length). Answers what
    moved: (session id, from, to)."""
    nodes = await registry.nodes(redis, keys)
    now = time.time()
    live = {name: beat for name, beat in nodes.items() if beat.alive(heartbeat_seconds, now)}
    dead = [name for name in nodes if name not in live]
    if not live or not dead:
        return []
    load = {name: beat.sessions for name, beat in live.items()}
    move = MOVE_SESSION.bind(redis)
    moved = []
    for name in dead:
        silent = now - nodes[name].heartbeat
        for raw in await redis.smembers(keys.node_sessions(name)):
            session_id = raw.decode()
            to = min(live, key=lambda n: (load[n] / max(live[n].capacity, 1), load[n]))
            reason = (
                f"node {name} stopped answering (no heartbeat for {silent:.0f} s); "
                f"the session is starting again on node {to}"
            )
            starting = ev.event_data(
                ev.SESSION_STARTING, {"phase": SessionStatus.STARTING.value, "reason": reason}
            )
            done = await move(
                session=keys.session(session_id),
                from_sessions=keys.node_sessions(name),
                to_sessions=keys.node_sessions(to),
                events=keys.events(session_id),
                from_node=name,
                to_node=to,
                session_id=session_id,
                status=SessionStatus.STARTING.value,
                reason=reason,
                event_type=ev.SESSION_STARTING,
                event_data=json.dumps(starting),
                events_kept=events_kept,
            )
            if done:
                load[to] += 1
                restore_on(session_id, to)
                moved.append((session_id, name, to))
                log.warning("session %s: %s", session_id, reason)
        if not await redis.scard(keys.node_sessions(name)):
            await redis.hdel(keys.nodes, name)
            log.warning("node %s: removed (no heartbeat for %.0f s, no sessions)", name, silent)
    return moved
