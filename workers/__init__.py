"""Celery workers (distributed mode): each worker node hosts preview sessions.

``workers.app`` is the Celery application (configured from Settings),
``workers.tasks`` the thin tasks, ``workers.runtime`` the node's long-lived event
loop with its sessions and their Vite processes. Run one with
``kontext-preview worker`` and the periodic cull with ``kontext-preview beat``.
"""
