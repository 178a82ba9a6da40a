"""The door to the shared emulator: one account per learner, and nobody in anyone else's.

Learners point AWS_ENDPOINT_URL at `lab cohort serve`; every signed AWS request
passes through here before it reaches the emulator, which listens on a
loopback port nobody else can reach. Per request:

1. **Who.** The access key id from the SigV4 ``Authorization`` header (or a
   presigned URL's ``X-Amz-Credential``) must be a learner's 12-digit account
   id. Anything else (``test``, a typo, a stranger) is refused with an AWS-style
   error that says which line of the instruction sheet to use. This follows the
   LocalStack convention: the access key id *selects* the account. Secrets are
   not verified (the emulators never do), so an account id works like a
   password: sheets are per learner and ids are random, not sequential.
2. **Where.** A request that names another learner's account id anywhere
   (queue URL, topic/table ARN, policy, body) is refused: both engines resolve
   such references across accounts, which real AWS would deny without a
   resource policy.
3. **Engine quirks.** moto ignores the access key, so the gateway adds
   ``x-moto-account-id``; moto also lets any account read any bucket, so S3
   requests on moto are checked against the caller's own bucket list
   (ministack enforces bucket ownership itself). Emulator control paths
   (``/_ministack/...``, ``/moto-api/...``, ``/_localstack/...`` except health)
   are refused: one learner must not be able to reset everybody.
4. **Activity.** First/last request and the last call per account feed the
   dashboard (who is working, who has not started).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

import urllib3

MAX_AWS_BODY = 64 * 1024 * 1024
_CREDENTIAL = re.compile(r"Credential=([^/\s,]+)/\d{8}/([^/\s,]+)/([^/\s,]+)/aws4_request")
_SIGV2 = re.compile(r"^AWS ([^:\s]+):")
_ACCOUNT = re.compile(rb"(?<!\d)\d{12}(?!\d)")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "content-length", "expect"}
_BLOCKED_PREFIXES = ("/_", "/moto-api")
_PUBLIC_PATHS = {"/_localstack/health"}


def is_aws_request(headers: dict[str, str], query: str) -> bool:
    auth = headers.get("authorization", "")
    if auth.startswith(("AWS4-", "AWS ")):
        return True
    return "x-amz-credential=" in query.lower() or "awsaccesskeyid=" in query.lower()


def caller(headers: dict[str, str], query: str) -> tuple[str | None, str]:
    """(access key id, service) of a signed request; service is '' when it cannot be told."""
    auth = headers.get("authorization", "")
    match = _CREDENTIAL.search(auth)
    if match:
        return match.group(1), match.group(3)
    match = _SIGV2.match(auth)
    if match:
        return match.group(1), "s3"
    params = urllib.parse.parse_qs(query)
    credential = (params.get("X-Amz-Credential") or params.get("x-amz-credential") or [""])[0]
    if credential:
        parts = credential.split("/")
        return parts[0], parts[3] if len(parts) > 3 else ""
    key = (params.get("AWSAccessKeyId") or [""])[0]
    return (key or None), "s3" if key else ""


def operation(headers: dict[str, str], method: str, path: str, body: bytes, service: str) -> str:
    """A short label of the call for the dashboard, e.g. `sns:Subscribe` or `s3:PUT /bucket`."""
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if body[:200].find(b"Action=") >= 0:
        action = urllib.parse.parse_qs(body[:2000].decode("latin-1")).get("Action", [""])[0]
        if action:
            return f"{service}:{action}"
    first = path.split("?", 1)[0].split("/")[1:2]
    return f"{service}:{method} /{first[0] if first else ''}"


@dataclass
class Refusal:
    status: int
    code: str
    message: str


def error_response(refusal: Refusal, headers: dict[str, str], service: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """An error body the AWS SDKs and CLIs parse into `An error occurred (Code) ...: message`."""
    content_type = headers.get("content-type", "")
    request_id = str(uuid.uuid4())
    extra = [(b"x-amzn-errortype", refusal.code.encode()), (b"x-amzn-requestid", request_id.encode())]
    if content_type.startswith("application/x-amz-json") or content_type.startswith("application/json"):
        import json

        body = json.dumps({"__type": refusal.code, "message": refusal.message, "Message": refusal.message}).encode()
        return refusal.status, [(b"content-type", b"application/x-amz-json-1.0"), *extra], body
    message = escape(refusal.message)
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>").encode()
    else:
        body = (f'<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{refusal.code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
    return refusal.status, [(b"content-type", b"text/xml"), *extra], body


class Gateway:
    """Decides and forwards signed AWS requests for one cohort's shared emulator."""

    def __init__(self, store, engine_url: str, engine: str, accounts: set[str] | None = None):
        self.store = store
        self.engine_url = engine_url.rstrip("/")
        self.engine = engine
        parts = urllib.parse.urlsplit(self.engine_url)
        self._pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=64, block=False,
                                                retries=False, timeout=urllib3.Timeout(connect=5, read=300))
        self._accounts = set(accounts if accounts is not None else store.accounts())
        self._accounts_loaded = time.monotonic()
        self._lock = threading.Lock()
        self._seen: dict[str, list] = {}  # account -> [first, last, requests, last call] since the last flush
        self._buckets: dict[str, tuple[float, set[str]]] = {}  # account -> (fetched at, bucket names)

    # -- who may come in ------------------------------------------------------------------------
    def _known(self, account: str) -> bool:
        if account in self._accounts:
            return True
        with self._lock:  # a learner added while we run: re-read the roster, at most once a second
            if time.monotonic() - self._accounts_loaded > 1.0:
                self._accounts = self.store.accounts()
                self._accounts_loaded = time.monotonic()
        return account in self._accounts

    def decide(self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[str | None, str, Refusal | None]:
        """(account, service, refusal or None) for one signed request."""
        key, service = caller(headers, query)
        path = urllib.parse.unquote(raw_path)
        if path.startswith(_BLOCKED_PREFIXES) and path not in _PUBLIC_PATHS:
            return key, service, Refusal(403, "AccessDenied",
                                         f"lab cohort: {path.split('?')[0][:40]} controls the shared emulator and is not open to learners.")
        if not key or not re.fullmatch(r"\d{12}", key) or not self._known(key):
            shown = (key or "none")[:24]
            code = "InvalidAccessKeyId" if service == "s3" else (
                "UnrecognizedClientException" if headers.get("content-type", "").startswith("application/x-amz-json")
                else "InvalidClientTokenId")
            return key, service, Refusal(403, code,
                                         f"lab cohort: the access key id '{shown}' is not a learner account of this workshop. "
                                         "Set AWS_ACCESS_KEY_ID to the 12-digit account id on your instruction sheet "
                                         "(or run `lab join URL --token TOKEN`).")
        others = self._other_accounts(key, raw_path, query, body, headers)
        if others:
            return key, service, Refusal(403, "AccessDenied",
                                         f"lab cohort: this request names account {sorted(others)[0]}, which belongs to another "
                                         f"learner; you can only use your own account ({key}).")
        if service == "s3" and self.engine == "moto":
            refusal = self._s3_owner_check(key, method, raw_path, query)
            if refusal:
                return key, service, refusal
        return key, service, None

    def _other_accounts(self, key: str, raw_path: str, query: str, body: bytes, headers: dict[str, str]) -> set[str]:
        texts = [raw_path.encode(), urllib.parse.unquote(query).encode(), body,
                 headers.get("x-amz-copy-source", "").encode()]
        found = set()
        for text in texts:
            found.update(match.decode() for match in _ACCOUNT.findall(text))
        found.discard(key)
        return {account for account in found if account in self._accounts}

    # -- S3 ownership (moto only) ---------------------------------------------------------------------
    def _s3_owner_check(self, key: str, method: str, raw_path: str, query: str) -> Refusal | None:
        parts = raw_path.split("?", 1)[0].lstrip("/").split("/", 1)
        bucket = urllib.parse.unquote(parts[0]) if parts and parts[0] else ""
        if not bucket:
            return None  # ListBuckets: moto already filters it by account
        is_bucket_level = len(parts) == 1 or parts[1] == ""
        if method == "PUT" and is_bucket_level and not query:
            return None  # CreateBucket: the global namespace answers BucketAlreadyExists, as AWS does
        if bucket in self._own_buckets(key):
            return None
        if bucket not in self._own_buckets(key, refresh=True) and self._bucket_exists(bucket):
            return Refusal(403, "AccessDenied",
                           f"lab cohort: bucket {bucket} belongs to another account; you can only use your own buckets.")
        return None

    def _own_buckets(self, account: str, refresh: bool = False) -> set[str]:
        cached = self._buckets.get(account)
        if cached and not refresh and time.monotonic() - cached[0] < 10:
            return cached[1]
        response = self._pool.urlopen("GET", "/", headers=self._engine_headers(account, "s3"), preload_content=True)
        names = set(re.findall(rb"<Name>([^<]+)</Name>", response.data))
        buckets = {name.decode() for name in names}
        self._buckets[account] = (time.monotonic(), buckets)
        return buckets

    def _bucket_exists(self, bucket: str) -> bool:
        response = self._pool.urlopen("HEAD", "/" + urllib.parse.quote(bucket),
                                      headers=self._engine_headers("123456789012", "s3"), preload_content=True)
        return response.status != 404

    def _engine_headers(self, account: str, service: str) -> dict[str, str]:
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/{service}/aws4_request, "
                                    "SignedHeaders=host, Signature=0",
                   "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        if self.engine == "moto":
            headers["x-moto-account-id"] = account
        return headers

    def _forget_bucket_cache(self, account: str) -> None:
        self._buckets.pop(account, None)

    # -- activity ---------------------------------------------------------------------------------
    def note(self, account: str, call: str) -> None:
        now = time.time()
        with self._lock:
            entry = self._seen.get(account)
            if entry is None:
                self._seen[account] = [now, now, 1, call]
            else:
                entry[1], entry[2], entry[3] = now, entry[2] + 1, call

    def flush_activity(self) -> None:
        with self._lock:
            seen, self._seen = self._seen, {}
        if seen:
            self.store.record_activity({account: tuple(values) for account, values in seen.items()})

    # -- the ASGI side ----------------------------------------------------------------------------------
    async def handle(self, scope, receive, send) -> None:
        loop = asyncio.get_running_loop()
        headers = _headers(scope)
        method = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        body = await read_body(receive, MAX_AWS_BODY)
        if body is None:
            await _respond(send, *error_response(Refusal(413, "EntityTooLarge",
                                                         f"lab cohort: request bodies are limited to {MAX_AWS_BODY // 2**20} MB."),
                                                 headers, ""))
            return
        account, service, refusal = await loop.run_in_executor(None, self.decide, method, raw_path, query, headers, body)
        if refusal is not None:
            await _respond(send, *error_response(refusal, headers, service))
            return
        self.note(account, operation(headers, method, raw_path, body, service))
        forward = [(name, value) for name, value in scope["headers"]
                   if name.decode("latin-1").lower() not in _HOP_BY_HOP and name.lower() != b"x-moto-account-id"]
        if self.engine == "moto":
            forward.append((b"x-moto-account-id", account.encode()))
        target = raw_path + ("?" + query if query else "")
        try:
            response = await loop.run_in_executor(None, self._forward, method, target, forward, body)
        except urllib3.exceptions.HTTPError as exc:
            await _respond(send, *error_response(Refusal(502, "ServiceUnavailable",
                                                         f"lab cohort: the shared emulator is not answering ({type(exc).__name__})."),
                                                 headers, service))
            return
        try:
            out_headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                           for name, value in response.headers.items()
                           if name.lower() not in _HOP_BY_HOP or (name.lower() == "content-length")]
            await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
            if method == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            while True:
                chunk = await loop.run_in_executor(None, response.read, 65536, False)
                if not chunk:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release_conn()
        if service == "s3" and self.engine == "moto" and method in ("PUT", "DELETE") and response.status < 300:
            self._forget_bucket_cache(account)

    def _forward(self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes):
        plain = urllib3.HTTPHeaderDict()
        for name, value in headers:
            plain.add(name.decode("latin-1"), value.decode("latin-1"))
        return self._pool.urlopen(method, target, body=body or None, headers=plain, preload_content=False,
                                  decode_content=False, redirect=False, assert_same_host=False)

    def close(self) -> None:
        self._pool.close()


def _headers(scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


async def read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes `limit` bytes."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return bytes(body)
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)


async def _respond(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
