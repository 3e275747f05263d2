"""The worker process's Celery application (``celery -A workers.app worker``), built from
kontext-preview's Settings (``kontext_preview.distributed.celery_app``), and the signals
that start, restore and stop the node's runtime."""

import logging
from typing import Any

from celery.signals import worker_init, worker_ready, worker_shutdown

from kontext_preview.config import Settings
from kontext_preview.distributed.celery_app import make_celery

log = logging.getLogger(__name__)

settings = Settings()
app = make_celery(settings, include=["workers.tasks"])


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
