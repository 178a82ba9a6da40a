"""The one place that makes AWS clients.

Every client is pinned to the emulator endpoint, signs with dummy credentials,
ignores the user's profiles and config files, and carries a send guard that
refuses any request whose host is not loopback (unless the user named that
host with ``--endpoint``). A learner's real AWS credentials are never read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.config import Config

from .errors import UnsafeEndpoint

DEFAULT_REGION = "us-east-1"
DUMMY_SECRET = "test"

# Variables that could route a learner's code (run in-process by a check) to a
# real account: we blank them while that code runs.
_CREDENTIAL_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)


LEARNER_RETRIES = {"AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where the emulator answers and who we are to it."""

    url: str
    region: str = DEFAULT_REGION
    access_key: str = "test"
    allow_remote: bool = False  # only true when the user passed --endpoint for it

    def __post_init__(self):
        ensure_allowed(self.url, self.allow_remote)

    def with_access_key(self, access_key: str) -> "Endpoint":
        return Endpoint(self.url, self.region, access_key, self.allow_remote)

    def environment(self) -> dict[str, str]:
        """The variables that point the AWS CLI, awslocal and boto3 at the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


def ensure_allowed(url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeEndpoint(f"'{url}' is not an http(s) endpoint URL.")
    if not allow_remote and not is_loopback_url(url):
        raise UnsafeEndpoint(
            f"Refusing to send AWS requests to {parts.hostname}: it is not this machine.",
            fix=f"if it is a workshop server you trust, run `lab start LAB --endpoint {url} --allow-remote`",
        )


_shared_loader = None
_loader_lock = threading.Lock()


def _isolated_botocore_session() -> botocore.session.Session:
    # A session that cannot see AWS_PROFILE, ~/.aws/config or ~/.aws/credentials.
    global _shared_loader
    session = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    # Parsing botocore's JSON models dominates client creation; one loader (with its
    # cache) serves every session in the process.
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _shared_loader)
    return session


class ApiMeter:
    """Adds up the time spent in AWS API calls, two ways.

    `seconds`: each client call from start to parsed response, as any boto3
    program making the same calls would spend it (the raw API latency).
    `wire_seconds`: only the HTTP round trips inside those calls.
    """

    def __init__(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.wire_seconds = 0.0
        self.calls = 0

    def call_started(self, context=None, **_):
        if context is not None:
            context["lab_call_started"] = time.perf_counter()

    def call_ended(self, context=None, **_):
        started = (context or {}).pop("lab_call_started", None)
        if started is None:
            return
        with self._lock:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def register(self, events) -> None:
        events.register("provide-client-params", self.call_started)
        events.register("after-call", self.call_ended)
        events.register("after-call-error", self.call_ended)
        events.register("before-send", self.before_send)
        events.register("response-received", self.response_received)

    def before_send(self, **_):
        self._local.started = time.perf_counter()

    def response_received(self, **_):
        started = getattr(self._local, "started", None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        self._local.started = None
        with self._lock:
            self.wire_seconds += elapsed


class ClientFactory:
    """Makes (and caches) guarded boto3 clients for one endpoint."""

    def __init__(self, endpoint: Endpoint, meter: ApiMeter | None = None, read_timeout: float = 10):
        self.endpoint = endpoint
        self.meter = meter or ApiMeter()
        self._allowed_host = urlsplit(endpoint.url).hostname if endpoint.allow_remote else None
        self._config = Config(
            connect_timeout=2,
            read_timeout=read_timeout,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
        )
        self._botocore = _isolated_botocore_session()
        self._boto3 = boto3.session.Session(botocore_session=self._botocore)
        self._clients: dict[str, object] = {}
        self._learner_session: boto3.session.Session | None = None
        self._lock = threading.Lock()
        self._botocore.register("before-send", self._guard)
        self.meter.register(self._botocore)

    def _guard(self, request, **_):
        host = urlsplit(request.url).hostname
        if host == self._allowed_host or is_loopback_url(request.url):
            return None
        raise UnsafeEndpoint(f"Blocked a request to {host}: `lab` only talks to the emulator.")

    def client(self, service: str, region: str | None = None):
        key = f"{service}@{region or self.endpoint.region}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._boto3.client(
                    service,
                    region_name=region or self.endpoint.region,
                    endpoint_url=self.endpoint.url,
                    aws_access_key_id=self.endpoint.access_key,
                    aws_secret_access_key=DUMMY_SECRET,
                    aws_session_token=None,
                    config=self._config,
                )
            return self._clients[key]

    def learner_session(self) -> boto3.session.Session:
        """The guarded boto3 session learner code gets as boto3's default (one per factory)."""
        with self._lock:
            if self._learner_session is None:
                botocore_session = _isolated_botocore_session()
                botocore_session.set_config_variable("max_attempts", 2)
                botocore_session.set_config_variable("retry_mode", "standard")
                session = boto3.session.Session(
                    aws_access_key_id=self.endpoint.access_key,
                    aws_secret_access_key=DUMMY_SECRET,
                    region_name=self.endpoint.region,
                    botocore_session=botocore_session,
                )
                session._session.register("before-send", self._guard)
                self.meter.register(session._session)
                self._learner_session = session
            return self._learner_session


# Sessions learner code builds itself must not read the learner's own AWS config:
# a [default] profile's endpoint_url or ignore_configured_endpoint_urls would send
# them past AWS_ENDPOINT_URL, to AWS.
LEARNER_FILES = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
# Variables that would send a session past AWS_ENDPOINT_URL (besides AWS_ENDPOINT_URL_<SERVICE>).
_ENDPOINT_OVERRIDES = ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",)

# The environment is the process's: learner code running in several threads at once (a
# check that timed out is still running while the next one starts) shares one swap,
# undone only when the last of them returns.
_learner_lock = threading.Lock()
_learner_active: list = []  # [token, factory] per running block, oldest first
_learner_saved: tuple[dict, object] | None = None  # the process's own variables and default session


def _service_endpoint_vars() -> list[str]:
    return [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]


def _apply_learner_environment(factory: "ClientFactory") -> None:
    for name in (*_CREDENTIAL_VARS, *_ENDPOINT_OVERRIDES, *_service_endpoint_vars()):
        os.environ.pop(name, None)
    os.environ.update(factory.endpoint.environment())
    # Sessions the learner builds themselves read these: fail fast rather than
    # retry with backoff past the check's time limit when the emulator errs.
    os.environ.update(LEARNER_RETRIES)
    os.environ.update(LEARNER_FILES)
    boto3.DEFAULT_SESSION = factory.learner_session()


@contextlib.contextmanager
def learner_code_environment(factory: ClientFactory):
    """Run learner code against the emulator and nothing else.

    ``boto3.client(...)`` inside learner code uses boto3's default session:
    we swap in our guarded one, and point the environment at the emulator for
    code that builds its own session (with no config file, no credentials file
    and no per-service endpoint variable that could route it elsewhere).
    """
    global _learner_saved
    token = [object(), factory]
    with _learner_lock:
        if not _learner_active:
            names = {*_CREDENTIAL_VARS, *_ENDPOINT_OVERRIDES, *_service_endpoint_vars(),
                     *factory.endpoint.environment(), *LEARNER_RETRIES, *LEARNER_FILES}
            _learner_saved = ({name: os.environ.get(name) for name in names}, boto3.DEFAULT_SESSION)
        _learner_active.append(token)
        _apply_learner_environment(factory)
    try:
        yield
    finally:
        with _learner_lock:
            _learner_active.remove(token)
            if _learner_active:  # another block is still running learner code: keep it pointed at its emulator
                _apply_learner_environment(_learner_active[-1][1])
            else:
                saved_env, boto3.DEFAULT_SESSION = _learner_saved
                for name, value in saved_env.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
