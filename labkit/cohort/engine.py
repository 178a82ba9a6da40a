"""The shared emulator of a cohort and the record of the running `lab cohort serve`.

The engine runs on a free loopback port that only the gateway (and the
facilitator's grader) talk to; its state lives in the cohort's folder, apart
from the facilitator's own `lab start` emulator. ministack saves that state when
it is stopped and reloads it on the next `lab cohort serve`; moto keeps nothing.
"""

from __future__ import annotations

import os
import time

from ..aws import is_loopback_url
from ..backends import EmulatorState, free_port
from ..backends.embedded import MinistackBackend, MotoBackend, owned_process
from ..errors import BadInput, EmulatorError
from ..home import read_json, write_json_atomic

ENGINES = ("ministack", "moto")


class _CohortMinistack(MinistackBackend):
    def __init__(self, folder):
        self.folder = folder

    def environment(self, port: int) -> dict[str, str]:
        env = super().environment(port)
        data = self.folder / "emulator-data"
        env.update({"STATE_DIR": str(data / "state"), "S3_DATA_DIR": str(data / "s3")})
        return env


class _CohortMoto(MotoBackend):
    def __init__(self, folder):
        self.folder = folder


def backend(store, name: str):
    if name == "ministack":
        return _CohortMinistack(store.folder)
    if name == "moto":
        return _CohortMoto(store.folder)
    raise BadInput(f"The shared emulator can be ministack or moto, not '{name}'.")


def _engine_path(store):
    return store.folder / "engine.json"


def _server_path(store):
    return store.folder / "server.json"


def engine_state(store) -> EmulatorState | None:
    """The cohort's running engine, or None."""
    data = read_json(_engine_path(store))
    if not data:
        return None
    state = EmulatorState.from_dict(data)
    if owned_process(state) is None or not backend(store, state.backend).is_healthy(state):
        return None
    return state


def start_engine(store, name: str) -> tuple[EmulatorState, str]:
    """Reuse the cohort's engine if it runs (e.g. after a crashed serve), else start one."""
    existing = engine_state(store)
    if existing is not None:
        if existing.backend != name:
            raise EmulatorError(f"This cohort's {existing.backend} emulator is still running (PID {existing.pid}).",
                                fix=f"stop it with `lab cohort stop`, or serve with --engine {existing.backend}")
        return existing, f"Reusing the cohort's {name} emulator (PID {existing.pid})."
    state = backend(store, name).start(free_port())
    write_json_atomic(_engine_path(store), state.to_dict())
    os.chmod(_engine_path(store), 0o600)
    kept = "its state is saved when serve stops" if name == "ministack" else "moto keeps nothing once serve stops"
    return state, f"Started a {name} emulator for the cohort on {state.url} (loopback only; {kept})."


def stop_engine(store) -> str:
    state = engine_state(store)
    _engine_path(store).unlink(missing_ok=True)
    if state is None:
        return "The cohort's emulator was not running."
    return backend(store, state.backend).stop(state)


# -- the running server ----------------------------------------------------------------------------------
def record_server(store, info: dict) -> None:
    write_json_atomic(_server_path(store), info)
    os.chmod(_server_path(store), 0o600)


def forget_server(store) -> None:
    _server_path(store).unlink(missing_ok=True)


def server_info(store) -> dict | None:
    """The running `lab cohort serve` of this cohort (None if it is not running)."""
    info = read_json(_server_path(store))
    if not info:
        return None
    probe = EmulatorState(backend="serve", url=info.get("local_url", ""), pid=info.get("pid"),
                          pid_created=info.get("pid_created"))
    if owned_process(probe) is None:
        return None
    return info


def grading_endpoint(store) -> tuple[str, str, bool]:
    """(url, engine, allow_remote) the grader uses to reach learner accounts.

    ministack: the engine itself (the grader is trusted, so the gateway's hop is
    saved). moto: through the gateway, which maps access keys to moto accounts."""
    info = server_info(store)
    state = engine_state(store)
    if info is None or state is None:
        raise EmulatorError("The cohort's shared emulator is not running.",
                            fix=f"start it with `lab cohort serve --cohort {store.name}` (in another terminal)")
    if state.backend == "moto":
        url = info["local_url"]
        return url, "moto", not is_loopback_url(url)
    return state.url, state.backend, False


def wait_for_server(store, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = server_info(store)
        if info:
            return info
        time.sleep(0.1)
    raise EmulatorError("`lab cohort serve` did not come up in time.")
