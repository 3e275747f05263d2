"""Distributed mode: the API in front, Celery workers over Redis keep the sessions.

Redis holds what every process must see (``keys.py`` lists every key):

* the session registry: one hash per session (node, status, port, layout,
  timestamps) plus a sorted set of sessions by expiry time, and the nodes'
  heartbeats;
* the files (the durable copy a restarted worker restores from);
* each session's *inbox*: ids of updates received by the API and not yet
  applied, in order. A worker applies them in batches and commits the new files
  together with trimming the inbox in one transaction, so an update is applied
  exactly once even if the worker is killed part-way (a restarted worker
  restores the session from the committed files and applies what is left);
* request payloads, replies, and each session's event stream.

Celery carries the work to the right node (each worker node consumes its own
queue); see ``workers/``.
"""
