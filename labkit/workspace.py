"""The learner's workspace: starter files copied once, never overwritten."""

from __future__ import annotations

import filecmp
import shutil
import time
from pathlib import Path

from .home import workspaces_dir


def workspace_for(lab_id: str) -> Path:
    return workspaces_dir() / lab_id


def _files(folder: Path):
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path, path.relative_to(folder)


def prepare(lab) -> tuple[Path, list[str]]:
    """Copy starter/ files that are not in the workspace yet; returns (workspace, copied names)."""
    workspace = workspace_for(lab.id)
    workspace.mkdir(parents=True, exist_ok=True)
    copied = []
    for source, relative in _files(lab.folder / "starter"):
        target = workspace / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(str(relative))
    return workspace, copied


def install_solution(lab) -> tuple[Path, list[str]]:
    """Copy solution/ files in; a learner file that differs is first kept as NAME.bak-TIMESTAMP."""
    workspace = workspace_for(lab.id)
    workspace.mkdir(parents=True, exist_ok=True)
    backups = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for source, relative in _files(lab.folder / "solution"):
        target = workspace / relative
        if target.exists() and not filecmp.cmp(source, target, shallow=False):
            backup = target.with_name(f"{target.name}.bak-{stamp}")
            shutil.copy2(target, backup)
            backups.append(str(backup.relative_to(workspace)))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return workspace, backups
