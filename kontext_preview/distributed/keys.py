"""Every Redis key distributed mode uses, under one prefix (``KONTEXT_REDIS_PREFIX``)."""


class Keys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.sessions = f"{prefix}sessions"  # sorted set: session id → expiry (unix s)
        self.nodes = f"{prefix}nodes"  # hash: node name → JSON heartbeat
        self.celery = f"{prefix}celery:"  # Celery's own keys (kombu global_keyprefix)

    def session(self, session_id: str) -> str:  # hash: the registry record
        return f"{self.prefix}session:{session_id}"

    def files(self, session_id: str) -> str:  # hash: file name → content
        return f"{self.prefix}session:{session_id}:files"

    def logs(self, session_id: str) -> str:  # list: last log lines
        return f"{self.prefix}session:{session_id}:logs"

    def inbox(self, session_id: str) -> str:  # list: update request ids, oldest first
        return f"{self.prefix}session:{session_id}:inbox"

    def events(self, session_id: str) -> str:  # stream: the session's events
        return f"{self.prefix}events:{session_id}"

    def wake(self, node: str) -> str:  # pub/sub channel: "a session of yours has updates"
        return f"{self.prefix}wake:{node}"

    def node_sessions(self, node: str) -> str:  # set: sessions a node hosts
        return f"{self.prefix}node:{node}:sessions"

    def payload(self, request_id: str) -> str:  # hash: a request's files and meta
        return f"{self.prefix}payload:{request_id}"

    def reply(self, request_id: str) -> str:  # list: a worker's answer to a request
        return f"{self.prefix}reply:{request_id}"

    def abandoned(self, request_id: str) -> str:  # string: the API gave up waiting for it
        return f"{self.prefix}abandoned:{request_id}"

    def owner_sessions(self, owner: str) -> str:  # set: a user's live sessions
        return f"{self.prefix}owner:{owner}:sessions"

    def ended(self, session_id: str) -> str:  # hash {owner, reason}: expires with retention
        return f"{self.prefix}ended:{session_id}"

    def session_keys(self, session_id: str) -> list[str]:
        """Everything kept about a session but its event stream (kept for late readers)."""
        return [
            self.session(session_id),
            self.files(session_id),
            # Written by releases before 2026-11-30 and read by none: removed with the session.
            f"{self.prefix}session:{session_id}:hashes",
            self.logs(session_id),
            self.inbox(session_id),
        ]
