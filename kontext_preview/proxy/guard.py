"""Request targets no page needs, refused before they reach a dev server.

Sessions run the project's own Vite, old patch levels included (the Internet Computer
examples pin 5.4.11), so the file-serving bypasses fixed in later patches must not
depend on the session's version: CVE-2025-30208 (``?raw??``, ``?import&raw??``),
CVE-2025-31125 (``?inline&import``, ``?raw?import``, ``.wasm?init``), CVE-2025-31486
(``?/../`` after a folder) and CVE-2025-32395 (a ``#`` in the request target) all need
a second ``?`` in the query, a ``#``, or dot segments; GitHub advisories
GHSA-x574-m823-4x7w, GHSA-4r4m-qw57-chr8, GHSA-xcj6-pq6g-qj4x, GHSA-356w-63v5-8wf4.
No module URL Vite writes has any of them (``/src/App.tsx?t=1&import``,
``?worker_file&type=module``, ``?html-proxy&index=0.css``), and a browser never sends a
fragment or dot segments. Each is checked on the target as sent and percent-decoded (up
to three times: double-encoded variants). What ``/@fs/`` may then reach is Vite's own
``server.fs.allow`` (the session's folders); containers see no more of the host anyway.
"""

from urllib.parse import unquote

DECODINGS = 3


def refusal(raw_path: bytes, query: bytes) -> str | None:
    """Why this request target is refused (a sentence for the 400 page), or None.
    ``raw_path``: the path as sent; ``query``: the query string as sent, without ``?``."""
    path_forms = _decodings(raw_path.decode("latin-1"))
    query_forms = _decodings(query.decode("latin-1"))
    if any("#" in form for form in path_forms + query_forms):
        return "a request target with '#' (browsers never send a fragment)"
    if any("?" in form for form in path_forms[1:] + query_forms):
        return "a second '?' in the request target"
    for form in path_forms:
        if "\\" in form or "\0" in form:
            return "a backslash or NUL in the path"
        if any(segment in (".", "..") for segment in form.split("/")):
            return "a '.' or '..' segment in the path"
    return None


def _decodings(text: str) -> list[str]:
    forms = [text]
    for _ in range(DECODINGS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms
