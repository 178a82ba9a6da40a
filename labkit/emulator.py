"""Find, start, reuse and stop the one emulator `lab` manages.

The running emulator is recorded in LAB_HOME/emulator.json so every later
`lab` command (and every terminal) talks to the same one.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .aws import Endpoint, ensure_allowed
from .backends import Backend, EmulatorState, http_answers, http_get_json, port_is_free
from .backends.embedded import MinistackBackend, MotoBackend, owned_process
from .backends.localstack import LocalStackBackend
from .defaults import BACKEND_CHOICES, DEFAULT_ENGINE, DEFAULT_PORT
from .errors import BadInput, EmulatorError
from .home import lab_home, read_json, write_json_atomic

BACKENDS: dict[str, type[Backend]] = {
    "ministack": MinistackBackend,
    "moto": MotoBackend,
    "localstack": LocalStackBackend,
}
CHOICES = BACKEND_CHOICES


def _state_path():
    return lab_home() / "emulator.json"


def current_state() -> EmulatorState | None:
    """The recorded emulator, or None (also when emulator.json is damaged: nothing usable is recorded)."""
    data = read_json(_state_path())
    if not data:
        return None
    try:
        return EmulatorState.from_dict(data)
    except (TypeError, ValueError):
        return None


def _save(state: EmulatorState) -> None:
    write_json_atomic(_state_path(), state.to_dict())


def _forget() -> None:
    _state_path().unlink(missing_ok=True)


def backend_for(state: EmulatorState) -> Backend | None:
    cls = BACKENDS.get(state.backend)
    return cls() if cls else None


def is_alive(state: EmulatorState) -> bool:
    if state.backend == "external":
        return http_answers(state.url)
    backend = backend_for(state)
    if backend is None:
        return False
    if state.pid and owned_process(state) is None:
        return False
    return backend.is_healthy(state)


def choose_backend(requested: str, localstack: LocalStackBackend | None = None) -> tuple[Backend, str]:
    """The backend to start, and a sentence saying why it was chosen."""
    if requested not in CHOICES or requested == "external":
        raise BadInput(f"Unknown backend '{requested}'; choose one of {', '.join(c for c in CHOICES if c != 'external')}, "
                       "or pass --endpoint URL for an emulator started elsewhere.")
    if requested != "auto":
        backend = BACKENDS[requested]()
        return backend, f"Using {backend.description} as requested."
    localstack = localstack or LocalStackBackend()
    problem = localstack.docker_problem()
    if problem is None:
        return localstack, "Using LocalStack because a Docker daemon answers (pass --backend ministack to stay embedded)."
    engine = BACKENDS[DEFAULT_ENGINE]()
    return engine, f"Using {engine.description}: {problem[0].lower()}{problem[1:]}"


def ensure_running(
    requested: str = "auto",
    port: int | None = None,
    endpoint: str | None = None,
    access_key: str | None = None,
    allow_remote: bool = False,
) -> tuple[EmulatorState, str]:
    """Reuse the running emulator or start one; returns its state and what was done."""
    if endpoint:
        return _use_external(endpoint, access_key or "test", allow_remote)

    existing = current_state()
    if existing is not None:
        if is_alive(existing):
            if requested not in ("auto", existing.backend) or (port and port != existing.port):
                raise EmulatorError(
                    f"A {existing.backend} emulator is already running at {existing.url}.",
                    fix="run `lab stop` first, then start with the backend and port you want",
                )
            return existing, f"Reusing the {existing.backend} emulator already running at {existing.url}."
        _forget()

    port = port or DEFAULT_PORT
    if not port_is_free(port):
        url = f"http://127.0.0.1:{port}"
        if http_get_json(url + "/_localstack/health") is not None:
            raise EmulatorError(
                f"Port {port} is in use by an AWS emulator that `lab` did not start.",
                fix=f"grade against it with `lab start LAB --endpoint {url}`, or pick another port with --port",
            )
        raise EmulatorError(
            f"Port {port} on 127.0.0.1 is already in use by another program.",
            fix=f"run `lab start LAB --port {port + 1}` or stop that program",
        )
    backend, reason = choose_backend(requested)
    state = backend.start(port)
    _save(state)
    return state, reason


def _use_external(url: str, access_key: str, allow_remote: bool) -> tuple[EmulatorState, str]:
    url = url.rstrip("/")
    ensure_allowed(url, allow_remote)  # another machine only with --allow-remote
    if not http_answers(url, timeout=3):
        raise EmulatorError(f"Nothing answers at {url}.", fix="start that emulator, or drop --endpoint")
    state = EmulatorState(
        backend="external",
        url=url,
        started_at=datetime.now(timezone.utc).isoformat(),
        allow_remote=allow_remote,
        access_key=access_key,
    )
    _save(state)
    return state, f"Using the emulator you named at {url}."


def require_endpoint(lab_id: str | None = None) -> tuple[Endpoint, EmulatorState]:
    """The running emulator's endpoint, or exit 3 with the command that starts it."""
    fix = f"lab start {lab_id or 'LAB'}"
    state = current_state()
    if state is None:
        raise EmulatorError("No emulator is running.", fix=fix)
    if not is_alive(state):
        raise EmulatorError(f"The {state.backend} emulator at {state.url} is not answering.", fix=fix)
    return state.endpoint(), state


def stop() -> str:
    state = current_state()
    if state is None:
        return "No emulator is running."
    if state.backend == "external":
        message = f"Forgot the external emulator at {state.url} (it is not ours to stop)."
    else:
        message = backend_for(state).stop(state)
    _forget()
    return message
