"""Every AWS request that learner code sends, recorded as it leaves boto3.

A check grades learner code on what it sends, not only on what it returns: the
operation, every parameter (ConsistentRead, Limit, ConditionExpression,
WaitTimeSeconds, ...), how many requests, and what each answered. Inside
`recording()` every request made by the calling thread, and by threads it
starts (a ThreadPoolExecutor in learner code), is appended to the log, whatever
client made it: module-level or per-call clients, the resource API, paginators,
sessions the code builds itself. All of them end in `BaseClient._make_api_call`,
which is wrapped once, for good, as a pass-through when nothing records.

`params` are taken where botocore turns them into the HTTP request, after
every handler has had its say: boto3's resource layer has by then turned
`Key("City").eq("x")` into a KeyConditionExpression and Python values into
DynamoDB JSON, so code written either way is recorded alike.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from botocore.client import BaseClient
from botocore.exceptions import ClientError


@dataclass
class Request:
    """One request learner code sent, and what came back."""

    service: str  # botocore's service name: "dynamodb", "sqs", "s3", ...
    operation: str  # "Query", "ReceiveMessage", ...
    params: dict  # the request's parameters as sent
    response: dict = field(default_factory=dict)  # the parsed response, without ResponseMetadata
    error: str | None = None  # the error code when the call failed

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass
class RequestLog:
    """The requests of one recorded block, in the order they were sent."""

    services: tuple[str, ...] = ()  # record only these services (all when empty)
    requests: list[Request] = field(default_factory=list)

    def __iter__(self) -> Iterator[Request]:
        return iter(list(self.requests))

    def __len__(self) -> int:
        return len(self.requests)

    def wants(self, service: str) -> bool:
        return not self.services or service in self.services

    def of(self, *operations: str, service: str | None = None) -> list[Request]:
        """The requests of these operations (all operations when none are named)."""
        return [r for r in self if (not operations or r.operation in operations)
                and (service is None or r.service == service)]

    @property
    def operations(self) -> list[str]:
        return [request.operation for request in self]


_recording = threading.local()
_install_lock = threading.Lock()
_original_make_api_call: Callable | None = None
_original_convert: Callable | None = None
_original_thread_init: Callable | None = None


def _current_log() -> RequestLog | None:
    log = getattr(_recording, "log", None)
    if log is None:  # a thread started while its parent recorded records into the parent's log
        log = getattr(threading.current_thread(), "_lab_request_log", None)
    return log


def _recording_make_api_call(self, operation_name, api_params):
    log = _current_log()
    service = self.meta.service_model.service_name
    if log is None or not log.wants(service):
        return _original_make_api_call(self, operation_name, api_params)
    request = Request(service, operation_name, _snapshot(api_params))
    log.requests.append(request)
    outer, _recording.pending = getattr(_recording, "pending", None), request
    try:
        response = _original_make_api_call(self, operation_name, api_params)
    except ClientError as error:
        request.error = error.response.get("Error", {}).get("Code") or "ClientError"
        raise
    finally:
        _recording.pending = outer
    request.response = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    return response


def _recording_convert(self, api_params, *args, **kwargs):
    pending = getattr(_recording, "pending", None)
    if pending is not None:  # the parameters as they are about to be serialised
        pending.params = _snapshot(api_params)
        _recording.pending = None
    return _original_convert(self, api_params, *args, **kwargs)


def _snapshot(params: dict) -> dict:
    try:
        return copy.deepcopy(params)
    except Exception:  # noqa: BLE001 - an uncopyable value (a file object as Body): keep the dict itself
        return dict(params)


def _thread_init(self, *args, **kwargs):
    _original_thread_init(self, *args, **kwargs)
    self._lab_request_log = _current_log()


def _install() -> None:
    global _original_make_api_call, _original_convert, _original_thread_init
    with _install_lock:
        if _original_make_api_call is None:
            _original_make_api_call = BaseClient._make_api_call
            BaseClient._make_api_call = _recording_make_api_call
            _original_convert = BaseClient._convert_to_request_dict
            BaseClient._convert_to_request_dict = _recording_convert
            _original_thread_init = threading.Thread.__init__
            threading.Thread.__init__ = _thread_init


@contextlib.contextmanager
def recording(*services: str) -> Iterator[RequestLog]:
    """Record the requests this thread (and threads it starts) sends inside the block.

    Name services to record only those. Nesting records into the inner log and
    restores the outer one afterwards.
    """
    _install()
    log = RequestLog(tuple(services))
    outer = getattr(_recording, "log", None)
    _recording.log = log
    try:
        yield log
    finally:
        _recording.log = outer
