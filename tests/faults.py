"""Fault injection for reliability tests: a TCP proxy in front of the emulator.

`FaultProxy` listens on 127.0.0.1 (a free port) and forwards every connection
to the emulator. It can

- add latency: each chunk a client sends waits `delay` seconds before it is
  forwarded (one botocore request is one or two chunks), so the emulator looks
  slow without being touched;
- die: `cut()` closes the listening socket and resets every open connection, as
  a crashed emulator would; `cut_after(n)` does it when the n-th client chunk
  (roughly the n-th request) arrives, deterministically mid-check.

It never connects anywhere but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, upstream_port: int, delay: float = 0.0):
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = delay
        self.chunks = 0  # client chunks forwarded (about one per request)
        self._cut_after: int | None = None
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True, name="fault-proxy").start()

    # -- control -------------------------------------------------------------------
    def cut_after(self, chunks: int) -> None:
        """Die when the client sends its `chunks`-th chunk from now on."""
        with self._lock:
            self._cut_after = self.chunks + chunks

    def cut(self) -> None:
        """Die now: refuse new connections, reset the open ones."""
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _reset(sock)

    close = cut

    # -- plumbing ------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._cut.is_set():
                    _reset(client), _reset(upstream)
                    return
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client:
                    with self._lock:
                        self.chunks += 1
                        die = self._cut_after is not None and self.chunks >= self._cut_after
                    if die:
                        self.cut()
                        return
                    if self.delay:
                        time.sleep(self.delay)
                if self._cut.is_set():
                    return
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.cut()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a killed process's sockets are."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def record_figure(name: str, value) -> None:
    """Note a measured figure (for docs/reliability.md) in the JSON file LAB_FIGURES names, if any."""
    import json
    import os
    from pathlib import Path

    target = os.environ.get("LAB_FIGURES")
    if not target:
        return
    path = Path(target)
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError):
        figures = {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))


@contextlib.contextmanager
def proxied(engine_home, delay: float = 0.0):
    """Point LAB_HOME's emulator record at a FaultProxy in front of `engine_home`'s emulator
    (same backend, same PID, so `lab` treats it as its own), and put the record back afterwards."""
    from dataclasses import replace

    from labkit import emulator

    state = engine_home.state
    proxy = FaultProxy(state.port, delay=delay)
    emulator._save(replace(state, url=proxy.url, port=proxy.port))
    try:
        yield proxy
    finally:
        proxy.cut()
        emulator._save(state)
