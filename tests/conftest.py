"""Shared fixtures.

``real_data``: the real open-data pack, read in place from ``FRAGILITY_REAL_DATA``
(default ``../shared/data/real`` beside the repository). Skipped when absent, except
on CI (``CI=true``) where its absence is a failure, as geopandas does for its datasets.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
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


# --------------------------------------------------------------------------------------
# Real headless Chromium (Debian's package; `make test` installs it when absent)
# --------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's Chromium (or ``FRAGILITY_CHROMIUM``), None when absent."""
    return (os.environ.get("FRAGILITY_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (``executable_path``, no download)."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium introuvable : `make test` l'installe (apt-get install chromium)")
        pytest.skip("Chromium absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def open_page(browser):
    """Open a local HTML file; return ``(page, errors, requests)``.

    ``errors`` collects console errors and uncaught page errors; ``requests`` every URL the
    page asked for. With ``offline=True`` every non-``file:`` request is aborted (as on a
    machine without internet) and not counted as an error of the page itself when its URL
    matches ``allow_failing`` (e.g. map tiles).
    """
    pages = []

    def open_(path, *, offline=True, allow_failing=(), width=1200, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors, requests = [], []
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))

        def on_console(message):
            if message.type != "error":
                return
            location = (message.location or {}).get("url", "")
            if any(pattern in location or pattern in message.text
                   for pattern in allow_failing):
                return
            errors.append(f"console: {message.text} ({location})")

        page.on("console", on_console)
        if offline:
            page.route(
                "**/*",
                lambda route: route.continue_()
                if route.request.url.startswith(("file:", "data:", "blob:"))
                else route.abort(),
            )
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        pages.append(context)
        return page, errors, requests

    yield open_
    for context in pages:
        context.close()


def is_blank(png: bytes, *, threshold: float = 3.0) -> bool:
    """True when a screenshot is (nearly) one flat colour."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(image.std()) < threshold


# --------------------------------------------------------------------------------------
# One demo diagnostic for the whole session (read-only)
# --------------------------------------------------------------------------------------


class DemoRun:
    """The demo diagnostic shared by the session: ``fragility diagnose --demo`` run once.

    ``result`` is the :class:`~fragility.diagnose.Diagnostic` the command computed,
    ``out`` its output folder, ``output`` and ``exit_code`` what the command printed and
    returned. Read-only: a test that changes a file or an object copies it first (e.g.
    ``shutil.copytree(run.out, tmp_path / "copie")``).
    """

    def __init__(self, result, out: Path, output: str, exit_code: int):
        self.result = result
        self.out = out
        self.output = output
        self.exit_code = exit_code


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """``fragility diagnose --demo --out <dossier>`` (default settings, seed 0), run once.

    Through the command line, so that the CLI test checks this very run; the
    :class:`~fragility.diagnose.Diagnostic` is recorded on the way by wrapping
    :func:`fragility.diagnose.diagnose` (the command imports it when it runs). It is the
    same run as ``diagnose(Territory.demo(), out, progress=False)``: the command's
    settings are :class:`~fragility.assessment.AssessmentSettings`' defaults.
    """
    import importlib

    from typer.testing import CliRunner

    from fragility.cli import app

    module = importlib.import_module("fragility.diagnose")  # not the function `fragility.diagnose`

    out = tmp_path_factory.mktemp("demo-diagnostic") / "demo"
    captured = []
    original = module.diagnose

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        captured.append(result)
        return result

    with pytest.MonkeyPatch.context() as mp:  # never the user's cache
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("demo-diagnostic-cache")))
        mp.setattr(module, "diagnose", recording)
        invoked = CliRunner().invoke(app, ["diagnose", "--demo", "--out", str(out)])
    if len(captured) != 1:
        pytest.fail(f"diagnostic de démonstration en échec (code {invoked.exit_code}) :\n"
                    f"{invoked.output}\n{invoked.exception!r}")
    return DemoRun(captured[0], out, invoked.output, invoked.exit_code)


@pytest.fixture(scope="session")
def pack_tables(real_data, tmp_path_factory) -> dict:
    """The IRIS table of every EPCI of the real pack (``cog/epci_dep21.json``), built once.

    ``{code EPCI: IrisTable}`` in the file's order. Read-only: several modules check these
    tables, none may change them.
    """
    import json

    from fragility.iris_table import build_iris_table
    from fragility.territory import Territory

    epcis = json.loads((real_data / "cog" / "epci_dep21.json").read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as mp:  # never the user's cache
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("pack-cache")))
        return {
            epci["code"]: build_iris_table(Territory.from_epci(epci["code"], data_dir=real_data))
            for epci in epcis
        }
