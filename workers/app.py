"""The Celery application, configured from kontext-preview's Settings.

Queues: every worker node consumes its own queue (``kontext.node.<name>``: the
work of the sessions it hosts) and the shared ``kontext.control`` queue (the
periodic cull). Tasks are acknowledged late and are idempotent, so a message of
a worker killed mid-task is delivered again (after ``visibility_timeout_seconds``)
and finds its work done or does it once; in practice the restarted worker has
already restored its sessions and applied their pending updates by then.
"""

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready, worker_shutdown

from kontext_preview.config import Settings
from kontext_preview.distributed.keys import CONTROL_QUEUE, Keys

log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    keys = Keys(settings.redis_prefix)
    app = Celery("kontext_preview", broker=settings.redis_url, include=["workers.tasks"])
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
                "task": "kontext.reap_expired",
                "schedule": settings.reap_interval_seconds,
                "options": {"queue": CONTROL_QUEUE, "expires": settings.reap_interval_seconds},
            }
        },
    )
    return app


settings = Settings()
app = make_celery(settings)


@worker_init.connect
def _start_node(sender: Any = None, **_: Any) -> None:
    from workers.runtime import start_runtime

    start_runtime(settings)


@worker_ready.connect
def _restore_node(sender: Any = None, **_: Any) -> None:
    from workers.runtime import get_runtime

    get_runtime().restore()
    log.info("node %s: ready", settings.node_name)


@worker_shutdown.connect
def _stop_node(sender: Any = None, **_: Any) -> None:
    from workers.runtime import stop_runtime

    stop_runtime()
