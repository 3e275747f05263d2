"""Session API: /kontext/preview."""
