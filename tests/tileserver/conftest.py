"""Fixtures of the tile-server tests: a served directory of two runs, an app, a live server."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from covgap.tileserver import create_app
from covgap.tileserver.config import parse_settings

_spec = importlib.util.spec_from_file_location("runbuilder", Path(__file__).with_name("runbuilder.py"))
runbuilder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runbuilder)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def build_run():
    """The run-directory builder (``runbuilder.build_run``)."""
    return runbuilder.build_run


@pytest.fixture(scope="session")
def served_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two runs: ``today`` (three sites) and ``two-off`` (one site off, no sites table)."""
    root = tmp_path_factory.mktemp("served")
    runbuilder.build_run(root, "today", title="Today")
    runbuilder.build_run(root, "two-off", title="One site switched off", switch_off=True, with_sites=False)
    return root


@pytest.fixture(scope="module")
def flask_app(served_dir: Path):
    """The app over ``served_dir``."""
    return create_app(parse_settings({}, directory=str(served_dir)))


@pytest.fixture(scope="module")
def client(flask_app):
    """A Flask test client."""
    return flask_app.test_client()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(served_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``covgap.tileserver.serve`` in its own process (waitress); yields (base URL, log file)."""
    port = _free_port()
    workdir = tmp_path_factory.mktemp("server")
    log_path = workdir / "server.log"
    code = f"from covgap.tileserver.serve import serve; serve({str(served_dir)!r}, port={port}, threads=4)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=workdir, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}: {log_path.read_text()}")
            try:
                urllib.request.urlopen(url + "/api/runs", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("server did not answer within 15 s")
        yield url, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)
