"""Run ministack so that a crash or a reboot loses (almost) nothing.

ministack saves its state only when it shuts down cleanly (SIGTERM, i.e.
`lab stop`). This launcher serves the same ASGI app and, a moment after the
last API request, also asks ministack to save, so a SIGKILL, a closed laptop
lid that ends in a power loss, or a reboot keeps everything but the last
SNAPSHOT_SETTLE seconds. Started as `python -m labkit.backends.ministack_main`
with ministack's own environment (GATEWAY_PORT, BIND_HOST, PERSIST_STATE, ...).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

SNAPSHOT_SETTLE = float(os.environ.get("LAB_SNAPSHOT_SETTLE", "1.0"))
logger = logging.getLogger("lab.snapshots")


class SnapshottingApp:
    """Wraps ministack's ASGI app; marks state dirty on API calls and saves once quiet."""

    def __init__(self, inner, save):
        self.inner = inner
        self.save = save
        self.dirty_at: float | None = None
        self.snapshots = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            asyncio.get_running_loop().create_task(self._snapshot_loop())
        elif scope["type"] == "http" and not scope["path"].startswith("/_"):
            receive = self._watch_for_writes(scope, receive)
        await self.inner(scope, receive, send)

    def _watch_for_writes(self, scope, receive):
        """Mark state dirty when the request is not a read (reads, like `lab watch`'s polls,
        must not cause snapshots)."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return receive
        target = dict(scope.get("headers") or []).get(b"x-amz-target", b"").decode()
        if target:  # JSON protocol: "DynamoDB_20120810.DescribeTable"
            if not is_read(target.rsplit(".", 1)[-1]):
                self.dirty_at = time.monotonic()
            return receive
        if scope["method"] != "POST":  # REST writes: PUT, DELETE, PATCH
            self.dirty_at = time.monotonic()
            return receive

        async def peek():  # query protocol: Action=ListTopics&... in the form body
            message = await receive()
            if message.get("type") == "http.request":
                body = message.get("body", b"")
                action = _form_action(body)
                if action is None or not is_read(action):
                    self.dirty_at = time.monotonic()
            return message

        return peek

    async def _snapshot_loop(self):
        while True:
            await asyncio.sleep(SNAPSHOT_SETTLE / 2)
            if self.dirty_at is not None and time.monotonic() - self.dirty_at >= SNAPSHOT_SETTLE:
                self.dirty_at = None
                try:
                    self.save()  # in the event loop: no request handler runs meanwhile
                    self.snapshots += 1
                except Exception:  # noqa: BLE001 - a failed snapshot is retried after the next change
                    logger.exception("state snapshot failed")


READ_PREFIXES = ("Describe", "List", "Get", "Head", "Query", "Scan", "BatchGet", "Receive", "Lookup", "Search")


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


def _form_action(body: bytes) -> str | None:
    from urllib.parse import parse_qs

    try:
        return (parse_qs(body.decode("utf-8", "replace")).get("Action") or [None])[0]
    except ValueError:
        return None


def main() -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from ministack import app as ministack

    def save():
        if ministack.PERSIST_STATE:
            ministack.save_all(ministack._build_persistence_save_dict())

    config = Config()
    config.bind = [f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{os.environ.get('GATEWAY_PORT', '4566')}"]
    config.keep_alive_timeout = 75
    config.loglevel = os.environ.get("LOG_LEVEL", "WARNING")
    # hypercorn's default shutdown trigger handles SIGTERM/SIGINT: ministack then saves once more.
    asyncio.run(serve(SnapshottingApp(ministack.app, save), config))


if __name__ == "__main__":
    main()
