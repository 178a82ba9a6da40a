"""Shared test fixtures.

One emulator per engine per test session, on a free port, each with its own
LAB_HOME. A test that uses `lab_home(engine)` gets that engine's emulator
wiped and a fresh progress database, so tests never see each other's state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import emulator
from labkit.backends import free_port

ENGINES = ("ministack", "moto")
REPO = Path(__file__).resolve().parent.parent


class EngineHome:
    """A LAB_HOME with a running emulator of one engine."""

    def __init__(self, engine: str, home: Path):
        self.engine = engine
        self.home = home
        self.state = None

    def start(self):
        os.environ["LAB_HOME"] = str(self.home)
        self.state, _ = emulator.ensure_running(self.engine, port=free_port())
        return self

    def stop(self):
        os.environ["LAB_HOME"] = str(self.home)
        emulator.stop()


@pytest.fixture(scope="session")
def _engines(tmp_path_factory):
    started: dict[str, EngineHome] = {}

    def get(engine: str) -> EngineHome:
        if engine not in started:
            started[engine] = EngineHome(engine, tmp_path_factory.mktemp(f"home-{engine}")).start()
        return started[engine]

    yield get
    for engine_home in started.values():
        engine_home.stop()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Parametrize a test over both embedded engines."""
    return request.param


@pytest.fixture
def lab_home(_engines, engine, monkeypatch) -> EngineHome:
    """LAB_HOME pointing at a running, freshly wiped `engine`, with no progress and no workspaces."""
    engine_home = _engines(engine)
    monkeypatch.setenv("LAB_HOME", str(engine_home.home))
    if not emulator.is_alive(engine_home.state):  # a test may have stopped or killed it
        emulator.stop()
        engine_home.start()
    emulator.backend_for(engine_home.state).wipe(engine_home.state)
    for leftover in ("progress.db", "progress.db-wal", "progress.db-shm"):
        (engine_home.home / leftover).unlink(missing_ok=True)
    shutil.rmtree(engine_home.home / "workspaces", ignore_errors=True)
    return engine_home


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """A LAB_HOME with nothing in it and no emulator."""
    monkeypatch.setenv("LAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run_lab(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `lab` command in a subprocess (exit codes, stderr, no tracebacks)."""
    return subprocess.run(
        [sys.executable, str(REPO / "lab.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
