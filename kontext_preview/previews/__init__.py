"""The session engine: the sessions of one process (embedded mode, or one worker node)."""
