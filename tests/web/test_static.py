"""The pages' static files (web/assets.py): versioned URLs, caching, compression."""

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest

from web.assets import UNVERSIONED_CACHE, VERSIONED_CACHE

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
LONG = "public, max-age=31536000, immutable"


def version_of(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_the_cache_policies_are_the_ones_promised():
    assert VERSIONED_CACHE == LONG
    assert UNVERSIONED_CACHE == "no-cache"


def test_every_page_asset_url_carries_its_content_hash(client):
    urls = static_urls(client.get("/login").get_data(as_text=True))
    assert "/static/app.css?v=" + version_of("app.css") in urls
    assert "/static/api.js?v=" + version_of("api.js") in urls
    for url in urls:
        name, version = re.fullmatch(r"/static/([\w.-]+)\?v=([0-9a-f]{12})", url).groups()
        assert version == version_of(name)


def test_a_signed_in_pages_own_assets_are_versioned(client, tokens):
    assert client.post("/login", data={"token": tokens["supervisor"]}).status_code == 302
    urls = static_urls(client.get("/scan").get_data(as_text=True))
    assert "/static/scan.css?v=" + version_of("scan.css") in urls
    assert "/static/scan.js?v=" + version_of("scan.js") in urls


def test_a_versioned_url_is_cached_for_a_year_and_immutable(client):
    answer = client.get(f"/static/app.css?v={version_of('app.css')}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == LONG
    assert answer.headers["Content-Type"] == "text/css; charset=utf-8"
    assert answer.data == (STATIC / "app.css").read_bytes()
    assert "Content-Encoding" not in answer.headers  # the client accepted no encoding
    assert "Accept-Encoding" in answer.headers["Vary"]


@pytest.mark.parametrize("query", ["", "?v=000000000000", "?v=old"])
def test_an_unversioned_or_stale_url_is_revalidated(client, query):
    answer = client.get(f"/static/app.css{query}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.data == (STATIC / "app.css").read_bytes()


@pytest.mark.parametrize("name", ["app.css", "scan.js", "report.css"])
def test_gzip_when_the_client_accepts_only_gzip(client, name):
    answer = client.get(f"/static/{name}?v={version_of(name)}",
                        headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers["Vary"] == "Accept-Encoding"
    assert answer.headers["Cache-Control"] == LONG
    assert int(answer.headers["Content-Length"]) == len(answer.data)
    original = (STATIC / name).read_bytes()
    assert gzip.decompress(answer.data) == original
    assert len(answer.data) < len(original) / 2


def test_brotli_when_the_client_accepts_it(client):
    answer = client.get(f"/static/scan.js?v={version_of('scan.js')}",
                        headers={"Accept-Encoding": "gzip, deflate, br"})
    assert answer.headers["Content-Encoding"] == "br"
    assert brotli.decompress(answer.data) == (STATIC / "scan.js").read_bytes()
    again = client.get(f"/static/scan.js?v={version_of('scan.js')}",
                       headers={"Accept-Encoding": "br"})
    assert again.data == answer.data  # compressed once, kept


def test_a_revalidation_is_answered_not_modified(client):
    plain = client.get("/static/app.css")
    assert client.get("/static/app.css", headers={
        "If-None-Match": plain.headers["ETag"]}).status_code == 304
    zipped = client.get("/static/app.css", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/static/app.css", headers={
        "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", ["/static/nothing.css", "/static/../web/assets.py",
                                  "/static/%2e%2e/assets.py"])
def test_no_file_outside_the_static_folder(client, path):
    assert client.get(path).status_code == 404


def test_a_changed_file_gets_a_new_version(app, tmp_path):
    from web.assets import Versions

    (tmp_path / "a.css").write_text("a { color: red }")
    versions = Versions(str(tmp_path))
    first = versions.version("a.css")
    assert first == hashlib.sha256(b"a { color: red }").hexdigest()[:12]
    (tmp_path / "a.css").write_text("a { color: blue; }")
    assert versions.version("a.css") != first
    assert versions.version("missing.css") is None
