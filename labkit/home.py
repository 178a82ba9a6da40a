"""Where `lab` keeps its state: LAB_HOME, or the platform's user data dir."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import platformdirs

REPO_ROOT = Path(__file__).resolve().parent.parent


def lab_home() -> Path:
    home = os.environ.get("LAB_HOME") or platformdirs.user_data_dir("lab", appauthor=False)
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def workspaces_dir() -> Path:
    return lab_home() / "workspaces"


def logs_dir() -> Path:
    path = lab_home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # ValueError: not JSON, or not even UTF-8 text
        return None


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temp file and rename so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
