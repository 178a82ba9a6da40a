"""Pure-Python emulators run as detached subprocesses: ministack and moto."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from ..errors import EmulatorError
from ..home import lab_home, logs_dir
from . import Backend, EmulatorState, http_answers, http_get_json, http_post

READY_TIMEOUT = 30.0


class EmbeddedBackend(Backend):
    health_path = "/_localstack/health"
    reset_path = ""

    def wipe(self, state: EmulatorState) -> None:
        http_post(state.url + self.reset_path)

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def environment(self, port: int) -> dict[str, str]:
        return {}

    def start(self, port: int) -> EmulatorState:
        url = f"http://127.0.0.1:{port}"
        log_path = logs_dir() / f"{self.name}-{port}.log"
        env = {**os.environ, **self.environment(port)}
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                self.command(port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # outlives `lab`; Ctrl-C in the shell does not reach it
                close_fds=True,
            )
        state = EmulatorState(
            backend=self.name,
            url=url,
            port=port,
            pid=process.pid,
            pid_created=psutil.Process(process.pid).create_time(),
            started_at=datetime.now(timezone.utc).isoformat(),
            log_path=str(log_path),
        )
        self._wait_ready(process, state, log_path)
        return state

    def _wait_ready(self, process: subprocess.Popen, state: EmulatorState, log_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = _tail(log_path)
                raise EmulatorError(
                    f"The {self.name} emulator exited during start-up (code {process.returncode}): {tail}",
                    fix=f"read {log_path}",
                )
            if self.is_healthy(state):
                return
            time.sleep(0.05)
        process.kill()
        raise EmulatorError(
            f"The {self.name} emulator did not answer within {READY_TIMEOUT:.0f} s.",
            fix=f"read {log_path}",
        )

    def is_healthy(self, state: EmulatorState) -> bool:
        return http_get_json(state.url + self.health_path) is not None

    def stop(self, state: EmulatorState) -> str:
        process = owned_process(state)
        if process is None:
            return f"No {self.name} emulator was running (PID {state.pid} has gone or belongs to another program)."
        family = [process, *process.children(recursive=True)]
        for member in family:
            try:
                member.terminate()  # SIGTERM lets ministack save its state
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(family, timeout=10)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        return f"Stopped the {self.name} emulator (PID {state.pid}) on port {state.port}."


def owned_process(state: EmulatorState) -> psutil.Process | None:
    """The emulator's process, or None if the PID is gone or was reused by another program."""
    if not state.pid:
        return None
    try:
        process = psutil.Process(state.pid)
        if state.pid_created is not None and abs(process.create_time() - state.pid_created) > 1.0:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.Error:
        return None


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


class MinistackBackend(EmbeddedBackend):
    name = "ministack"
    reset_path = "/_ministack/reset"
    description = "embedded ministack (pure Python, no Docker; your resources survive `lab stop` and crashes)"

    def command(self, port: int) -> list[str]:
        # ministack's app behind our launcher, which snapshots state after activity.
        return [sys.executable, "-m", "labkit.backends.ministack_main"]

    def environment(self, port: int) -> dict[str, str]:
        data = lab_home() / "emulator-data" / "ministack"
        return {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",  # ministack binds 0.0.0.0 unless told
            "SFTP_ENABLED": "0",
            "IOT_MTLS_ENABLED": "0",
            "LOG_LEVEL": "WARNING",
            # Saved on SIGTERM (`lab stop`) and reloaded on start.
            "PERSIST_STATE": "1",
            "STATE_DIR": str(data / "state"),
            "S3_PERSIST": "1",
            "S3_DATA_DIR": str(data / "s3"),
        }


class MotoBackend(EmbeddedBackend):
    name = "moto"
    reset_path = "/moto-api/reset"
    description = "embedded moto server (pure Python, no Docker; state is lost on `lab stop`)"
    health_path = "/moto-api/"

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    def is_healthy(self, state: EmulatorState) -> bool:
        return http_answers(state.url + self.health_path)
