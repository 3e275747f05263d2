"""The Celery application both sides use, built from kontext-preview's Settings.

The API side builds one to send tasks (``DistributedSessionManager``); a worker process
builds one at import (``workers/app.py``). Importing this module builds nothing.

Queues: every worker node consumes its own queue (``kontext.node.<name>``: the work of
the sessions it hosts) and the shared control queue (the periodic cull). Tasks are
acknowledged late and are idempotent, so a message of a worker killed mid-task is
delivered again (after ``visibility_timeout_seconds``) and finds its work done or does
it once; in practice the restarted worker has already restored its sessions and applied
their pending updates by then.
"""

from celery import Celery

from kontext_preview.config import Settings
from kontext_preview.distributed.keys import Keys
from kontext_preview.distributed.protocol import CONTROL_QUEUE, REAP_EXPIRED_TASK


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    """A Celery app on ``settings.redis_url`` (``include``: the task modules a worker
    loads; the API only sends)."""
    keys = Keys(settings.redis_prefix)
    app = Celery("kontext_preview", broker=settings.redis_url, include=include or [])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=CONTROL_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            "global_keyprefix": keys.celery,
        },
        beat_schedule={
            "reap-expired-sessions": {
                "task": REAP_EXPIRED_TASK,
                "schedule": settings.reap_interval_seconds,
                "options": {"queue": CONTROL_QUEUE, "expires": settings.reap_interval_seconds},
            }
        },
    )
    return app
