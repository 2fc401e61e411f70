"""Shared fixtures: a crafted run directory (per docs/artifacts.md, built by helpers.runs), a static
file server, Chromium, one shared quick demo run, single-threaded torch."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import torch

from helpers.runs import build_site, make_fake_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    """A fresh crafted run directory."""
    return make_fake_run(tmp_path / "run")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D401 - keep test output clean
        pass


@pytest.fixture(scope="session")
def serve():
    """serve(folder) -> base URL of a 127.0.0.1 HTTP server for that folder (stopped at the end)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ensure_chromium() -> str | None:
    """Install Debian's chromium when missing and we are root; return why not, or None if ready."""
    if os.path.exists(CHROMIUM):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {done.stderr.strip().splitlines()[-1:]}"
    return None if os.path.exists(CHROMIUM) else f"apt-get installed chromium but {CHROMIUM} is missing"


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright (never `playwright install`)."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is in the test extra")
    why = _ensure_chromium()
    if why:
        pytest.skip(f"Chromium unavailable: {why}")
    with sync_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def fake_site(tmp_path_factory) -> Path:
    """The explorer site of the crafted run (built once)."""
    run = make_fake_run(tmp_path_factory.mktemp("fake") / "run")
    return build_site(run).parent


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """One real `unitscope demo --quick` shared by every test that needs it: (DemoResult, log lines).

    Developers may set UNITSCOPE_TEST_DEMO_LOG to the saved output of an earlier
    `unitscope demo --quick --out DIR` to reuse it while iterating on the site.
    """
    from unitscope.demo import DemoResult, run_demo

    saved = os.environ.get("UNITSCOPE_TEST_DEMO_LOG")
    if saved:
        lines = Path(saved).read_text().splitlines()
        where = next(line for line in lines if line.startswith("demo: quick run in "))
        run_dir = Path(where.split(" in ", 1)[1])
        return DemoResult(run_dir, build_site(run_dir), {}), lines
    lines: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo") / "run", quick=True, progress=False, log=lines.append)
    return result, lines


@pytest.fixture
def one_thread():
    """Small tensors run faster single-threaded, and the CI machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
