"""Shared fixtures.

``real_data``: the real open-data pack, read in place from ``FRAGILITY_REAL_DATA``
(default ``../shared/data/real`` beside the repository). Skipped when absent, except
on CI (``CI=true``) where its absence is a failure, as geopandas does for its datasets.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _real_data_path() -> Path:
    return Path(os.environ.get("FRAGILITY_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = _real_data_path()
    if not path.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"données réelles introuvables : {path} (FRAGILITY_REAL_DATA)")
        pytest.skip(f"données réelles absentes : {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty download cache (never the user's)."""
    monkeypatch.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("cache")))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_server():
    """Start a server on 127.0.0.1 (random port) serving a directory.

    Returns a function ``serve(directory) -> base_url``; the server stops after the test.
    ``serve.requests`` counts the GET requests received.
    """
    servers = []
    counter = {"n": 0}

    def serve(directory: Path) -> str:
        class Handler(_QuietHandler):
            def do_GET(self):
                counter["n"] += 1
                super().do_GET()

        handler = functools.partial(Handler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    serve.requests = counter
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
