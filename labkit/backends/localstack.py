"""LocalStack through `docker compose` and the repository's docker-compose.yml.

Everything that touches Docker goes through ``runner`` (a callable with the
signature of :func:`run_command`) and ``health`` (a URL -> JSON-or-None
callable), so the logic is tested without a Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import EmulatorError
from ..home import REPO_ROOT, lab_home
from . import Backend, EmulatorState, http_get_json

DEFAULT_IMAGE = "localstack/localstack:4.14.0"  # last community tag that starts without a token
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
PROJECT = "lab"
READY_TIMEOUT = 180.0  # a first start may pull the image
# Exit code LocalStack >= 2026.03 uses when no auth token is set.
EXIT_NEEDS_TOKEN = 55


def run_command(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: command not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{' '.join(args[:3])} timed out after {timeout:.0f} s")


Runner = Callable[..., subprocess.CompletedProcess]


class LocalStackBackend(Backend):
    name = "localstack"
    description = "LocalStack in Docker (docker-compose.yml)"

    def __init__(
        self,
        runner: Runner = run_command,
        health: Callable[[str], dict | None] = http_get_json,
        which: Callable[[str], str | None] = shutil.which,
        sleep: Callable[[float], None] = time.sleep,
        compose_file: Path = COMPOSE_FILE,
        ready_timeout: float = READY_TIMEOUT,
    ):
        self.runner, self.health, self.which, self.sleep = runner, health, which, sleep
        self.compose_file = compose_file
        self.ready_timeout = ready_timeout

    # -- Docker availability -------------------------------------------------
    def docker_problem(self) -> str | None:
        """None when Docker can run LocalStack, else one sentence saying why not."""
        if self.which("docker") is None:
            return "Docker is not installed (no `docker` command on PATH)."
        info = self.runner(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=10)
        if info.returncode != 0:
            reason = _first_line(info.stderr) or "no answer"
            return f"Docker is installed but its daemon is not answering ({reason})."
        compose = self.runner(["docker", "compose", "version"], timeout=10)
        if compose.returncode != 0:
            return "Docker Compose v2 (`docker compose`) is not available."
        return None

    def compose_env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env["LOCALSTACK_IMAGE"] = os.environ.get("LOCALSTACK_IMAGE") or DEFAULT_IMAGE
        env["LOCALSTACK_PORT"] = str(port)
        env["LOCALSTACK_VOLUME_DIR"] = str(lab_home() / "emulator-data" / "localstack")
        # Passed through only when set: compose then hands it to the container.
        if os.environ.get("LOCALSTACK_AUTH_TOKEN"):
            env["LOCALSTACK_AUTH_TOKEN"] = os.environ["LOCALSTACK_AUTH_TOKEN"]
        return env

    def _compose(self, *args: str, port: int, timeout: float = 600) -> subprocess.CompletedProcess:
        command = ["docker", "compose", "-f", str(self.compose_file), "-p", PROJECT, *args]
        return self.runner(command, env=self.compose_env(port), timeout=timeout)

    # -- lifecycle -----------------------------------------------------------
    def start(self, port: int) -> EmulatorState:
        problem = self.docker_problem()
        if problem:
            raise EmulatorError(problem, fix="start Docker, or run `lab start LAB --backend ministack`")
        up = self._compose("up", "-d", port=port)
        if up.returncode != 0:
            raise EmulatorError(
                f"`docker compose up` failed: {_first_line(up.stderr) or 'no output'}.",
                fix="check `docker compose -f docker-compose.yml logs`",
            )
        state = EmulatorState(
            backend=self.name,
            url=f"http://127.0.0.1:{port}",
            port=port,
            started_at=datetime.now(timezone.utc).isoformat(),
            details={"image": self.compose_env(port)["LOCALSTACK_IMAGE"], "compose_file": str(self.compose_file)},
        )
        self._wait_ready(state, port)
        return state

    def _wait_ready(self, state: EmulatorState, port: int) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.is_healthy(state):
                return
            exited = self._exit_code(port)
            if exited is not None:
                raise EmulatorError(self._explain_exit(exited, state), fix=self._fix_for_exit(exited))
            self.sleep(1.0)
        raise EmulatorError(
            f"LocalStack did not report ready within {self.ready_timeout:.0f} s.",
            fix="check `docker compose -p lab logs localstack`",
        )

    def _exit_code(self, port: int) -> int | None:
        ps = self._compose("ps", "--all", "--format", "{{.State}} {{.ExitCode}}", port=port, timeout=30)
        for line in ps.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "exited" and parts[1].isdigit():
                return int(parts[1])
        return None

    def _explain_exit(self, code: int, state: EmulatorState) -> str:
        image = state.details.get("image")
        if code == EXIT_NEEDS_TOKEN:
            return f"LocalStack ({image}) exited with code {code}: this image needs LOCALSTACK_AUTH_TOKEN."
        return f"LocalStack ({image}) exited during start-up with code {code}."

    @staticmethod
    def _fix_for_exit(code: int) -> str:
        if code == EXIT_NEEDS_TOKEN:
            return f"export LOCALSTACK_AUTH_TOKEN=..., or unset LOCALSTACK_IMAGE to use {DEFAULT_IMAGE}"
        return "check `docker compose -p lab logs localstack`"

    def is_healthy(self, state: EmulatorState) -> bool:
        health = self.health(state.url + "/_localstack/health")
        if not health:
            return False
        services = health.get("services") or {}
        return any(status in ("running", "available") for status in services.values())

    def stop(self, state: EmulatorState) -> str:
        down = self._compose("down", port=state.port or 4566, timeout=120)
        if down.returncode != 0:
            raise EmulatorError(f"`docker compose down` failed: {_first_line(down.stderr)}.")
        return f"Stopped LocalStack on port {state.port}."


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
