"""The pages' static files (web/static): versioned URLs, long caching, compression.

``url_for("static", filename=...)`` carries the file's content hash (``?v=<sha256 prefix>``),
added here for every static URL built anywhere (templates, views): the one place for the rule.
A request with the current hash is the same bytes for ever, so it is cached for a year and
marked immutable; any other request for the file (no hash, or a page's stale one) is answered
with the current file and revalidated each time (an ETag), so nothing stale is kept under a URL.

Answers are compressed (brotli, else gzip) for clients that accept it, by Flask-Compress on the
static route only: each file is compressed once per version, at the highest level, and kept.
The scan endpoint and the rest of the app never pass here (web/front.py); Flask keeps no
app-wide hook (tests/web/test_front.py).
"""

import hashlib
import mimetypes
import os
import threading

from flask import Flask, abort, current_app, request
from flask_compress import Compress, DictCache
from werkzeug.security import safe_join

# Versioned answers: a year, never revalidated (RFC 8246).
VERSIONED_CACHE = "public, max-age=31536000, immutable"
# Unversioned ones: kept, but checked with the server before each use.
UNVERSIONED_CACHE = "no-cache"
VERSION_LENGTH = 12  # hex digits of the SHA-256: 48 bits, no collision among a few dozen files


def init_app(app: Flask) -> None:
    """Serve ``app``'s static folder with versioned URLs, caching and compression."""
    app.config.update(
        COMPRESS_REGISTER=False,  # the static route only (below), not an app-wide hook
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_BR_LEVEL=11,  # once per file version (cached): the smallest answer
        COMPRESS_LEVEL=9,
        COMPRESS_CACHE_BACKEND=DictCache,
        COMPRESS_CACHE_KEY=_cache_key,
        COMPRESS_MIN_SIZE=256,
    )
    compress = Compress()
    compress.init_app(app)
    app.extensions["assets"] = Versions(app.static_folder)
    # Flask made the route (/static/<path:filename>, endpoint "static"); this answers it.
    app.view_functions["static"] = compress.compressed()(_static_file)
    app.url_defaults(_versioned)


class Versions:
    """The content hash of each file of a folder, recomputed when the file changes."""

    def __init__(self, folder: str):
        self.folder = folder
        self._known: dict[str, tuple[tuple[int, int], str]] = {}
        self._lock = threading.Lock()

    def path(self, filename: str) -> str | None:
        """The file's path, or None when ``filename`` is not a file inside the folder."""
        path = safe_join(self.folder, filename)
        return path if path is not None and os.path.isfile(path) else None

    def version(self, filename: str) -> str | None:
        """The file's version (a SHA-256 prefix), or None when there is no such file."""
        path = self.path(filename)
        if path is None:
            return None
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._known.get(filename)
        if known is not None and known[0] == stamp:
            return known[1]
        with open(path, "rb") as f:
            version = hashlib.sha256(f.read()).hexdigest()[:VERSION_LENGTH]
        with self._lock:
            self._known[filename] = (stamp, version)
        return version


def static_version(filename: str) -> str | None:
    """The version of a static file of the current app (None when there is no such file)."""
    return current_app.extensions["assets"].version(filename)


def _versioned(endpoint: str, values: dict) -> None:
    """URL defaults: a static file's URL carries its version."""
    if endpoint == "static" and "v" not in values:
        version = static_version(values.get("filename", ""))
        if version is not None:
            values["v"] = version


def _static_file(filename: str):
    """A static file, whole (so that it is compressed once and kept), with its caching."""
    versions = current_app.extensions["assets"]
    path, version = versions.path(filename), versions.version(filename)
    if path is None or version is None:
        abort(404)
    with open(path, "rb") as f:
        data = f.read()
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    response = current_app.response_class(data, mimetype=kind)
    response.set_etag(version)
    response.headers["Cache-Control"] = (
        VERSIONED_CACHE if request.args.get("v") == version else UNVERSIONED_CACHE)
    # An answer that is not compressed is made conditional here; a compressed one by
    # Flask-Compress, against its own ETag ("<version>:<encoding>").
    return response.make_conditional(request)


def _cache_key(req) -> str:
    """Flask-Compress's cache key for a static answer: the file at its current version."""
    filename = req.view_args["filename"]
    return f"{filename}@{static_version(filename)}"
