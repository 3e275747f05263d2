"""Preview host routing and the HTTP/WebSocket reverse proxy to each dev server."""
