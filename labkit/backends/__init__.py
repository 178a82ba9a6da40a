"""Emulator backends behind one small interface.

A backend starts an emulator on 127.0.0.1:PORT and returns an
:class:`EmulatorState` that is enough for a later `lab` process to find,
health-check and stop it. The emulator outlives the `lab` process.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field


@dataclass
class EmulatorState:
    backend: str
    url: str
    port: int | None = None
    pid: int | None = None
    pid_created: float | None = None  # process start time: a reused PID will not match
    started_at: str = ""
    log_path: str | None = None
    allow_remote: bool = False
    # The access key learners sign with: "test", or a 12-digit account id on a
    # shared cohort emulator (ministack and LocalStack map it to that account).
    access_key: str = "test"
    details: dict = field(default_factory=dict)

    def endpoint(self):
        from ..aws import Endpoint

        return Endpoint(self.url, access_key=self.access_key, allow_remote=self.allow_remote)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EmulatorState":
        """The state from its JSON record; TypeError when the record is not one (hand-edited, damaged)."""
        if not isinstance(data, dict):
            raise TypeError(f"an emulator record is a JSON object, not {type(data).__name__}")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        state = cls(**known)
        fields = {"backend": (str,), "url": (str,), "port": (int, type(None)), "pid": (int, type(None)),
                  "pid_created": (int, float, type(None)), "started_at": (str,), "log_path": (str, type(None)),
                  "allow_remote": (bool,), "access_key": (str,), "details": (dict,)}
        for name, types in fields.items():
            value = getattr(state, name)
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise TypeError(f"{name} is {value!r} in the emulator record")
        return state


class Backend:
    name = "?"
    #: why this engine is a good choice, shown by `lab start`
    description = ""

    def start(self, port: int) -> EmulatorState:
        raise NotImplementedError

    def stop(self, state: EmulatorState) -> str:
        """Stop the emulator and say what happened, in one sentence."""
        raise NotImplementedError

    def is_healthy(self, state: EmulatorState) -> bool:
        return http_answers(state.url + "/_localstack/health")

    def wipe(self, state: EmulatorState) -> None:
        """Forget every resource in the emulator (tests and benchmarks use it)."""
        raise NotImplementedError(f"the {self.name} backend cannot wipe its state")


def http_get_json(url: str, timeout: float = 1.0) -> dict | None:
    """GET a JSON document; None when nothing (or nothing JSON) answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return json.loads(response.read() or b"{}")
    except (OSError, ValueError):
        return None


def http_post(url: str, body: bytes = b"", timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        return response.status


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when an HTTP server answers at all (any status code)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
