"""Tokens, signatures and the submission format shared by learners and the collector.

A learner token is ``<account-id>.<secret>``: the account id says who the
learner is (it is also their AWS access key on a shared emulator), the whole
token is the HMAC key. The token itself never travels after `lab join`: every
submission and every learner request carries an HMAC-SHA256 signature instead.

A submission is ``{"payload": {...}, "signature": "<hex>"}`` where the
signature covers the payload's canonical JSON (sorted keys, no spaces, UTF-8).
The payload:

    {"v": 1, "kind": "check" | "progress", "cohort": "<cohort id>",
     "learner": "<account id>", "lab": "sns-fanout",
     "at": "<ISO 8601 time of the check>", "nonce": "<unique per submission>",
     "report": {... `lab check --json` ...},             # kind "check" only
     "progress": {"started_at": ..., "hints": {"task": n}, "attempts": n} | null,
     "files": {"ride_service.py": "<text>"}}             # the lab's learner files

The collector stores a submission once per nonce, so a replay changes nothing;
points always come from the facilitator's own lab.yaml, never from a payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

SUBMISSION_DOMAIN = b"lab-cohort-submission/v1\n"
REQUEST_DOMAIN = b"lab-cohort-request/v1\n"
MAX_SUBMISSION_BYTES = 1_000_000  # a report is a few KB; learner files are capped far below this
MAX_FILE_BYTES = 64_000
MAX_FILES_BYTES = 256_000
MAX_MESSAGE_CHARS = 4000
REQUEST_SKEW_SECONDS = 300
STATUSES = ("pass", "fail", "error")
_TOKEN = re.compile(r"^(\d{12})\.([A-Za-z0-9_-]{20,100})$")
_NONCE = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
_TASK = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


class Rejected(Exception):
    """A submission the collector refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# -- tokens ---------------------------------------------------------------------------
def new_account_id(taken: set[str]) -> str:
    """A random 12-digit AWS account id (no leading zero, not taken, not a well-known default)."""
    reserved = {"000000000000", "123456789012", "111111111111", "999999999999"}
    while True:
        candidate = str(secrets.randbelow(9 * 10**11) + 10**11)
        if candidate not in taken and candidate not in reserved:
            return candidate


def new_learner_token(account_id: str) -> str:
    return f"{account_id}.{secrets.token_urlsafe(24)}"


def new_facilitator_token() -> str:
    return "fac_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps for the facilitator token (it is 256 random bits: a plain hash suffices)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def account_of(token: str) -> str | None:
    match = _TOKEN.match(token.strip())
    return match.group(1) if match else None


def looks_like_learner_token(token: str) -> bool:
    return account_of(token) is not None


# -- canonical JSON and signatures ----------------------------------------------------------
def canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(payload: dict, token: str) -> str:
    return hmac.new(token.encode(), SUBMISSION_DOMAIN + canonical(payload), hashlib.sha256).hexdigest()


def signed(payload: dict, token: str) -> dict:
    return {"payload": payload, "signature": sign(payload, token)}


def request_signature(token: str, method: str, path: str, timestamp: str) -> str:
    message = REQUEST_DOMAIN + f"{method.upper()}\n{path}\n{timestamp}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def request_headers(token: str, method: str, path: str) -> dict[str, str]:
    """Headers that prove a learner request without sending the token."""
    timestamp = str(int(time.time()))
    return {
        "X-Lab-Learner": account_of(token) or "",
        "X-Lab-Time": timestamp,
        "X-Lab-Signature": request_signature(token, method, path, timestamp),
    }


def verify_request(token: str, method: str, path: str, timestamp: str, signature: str) -> bool:
    try:
        skew = abs(time.time() - int(timestamp))
    except (TypeError, ValueError):
        return False
    if skew > REQUEST_SKEW_SECONDS:
        return False
    return hmac.compare_digest(request_signature(token, method, path, timestamp), signature or "")


# -- parsing and validating a submission ----------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> object:
    if len(raw) > MAX_SUBMISSION_BYTES:
        raise Rejected(413, f"The submission is {len(raw)} bytes; the limit is {MAX_SUBMISSION_BYTES}.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(400, f"The submission is not valid UTF-8 JSON ({exc}).") from None


def parse_time(value, field: str) -> float:
    """Epoch seconds from an ISO 8601 string with a time zone."""
    if not isinstance(value, str):
        raise Rejected(400, f"`{field}` must be an ISO 8601 time string.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(400, f"`{field}` is not an ISO 8601 time: {value[:40]!r}.") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is the learner's local time
    epoch = moment.timestamp()
    if not math.isfinite(epoch) or epoch < 1.5e9:
        raise Rejected(400, f"`{field}` is out of range: {value[:40]!r}.")
    return epoch


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Submission:
    """A verified, validated submission, ready to store."""

    payload: dict
    signature: str
    learner: str
    lab: str
    kind: str
    nonce: str
    at: float
    tasks: list[tuple[str, str, str]]  # (task, status, message)
    hints: dict[str, int]
    started_at: float | None
    files: dict[str, str]


def split_envelope(document: object) -> tuple[dict, str]:
    if not isinstance(document, dict) or set(document) != {"payload", "signature"}:
        raise Rejected(400, "A submission is an object with exactly two keys: `payload` and `signature`.")
    payload, signature = document["payload"], document["signature"]
    if not isinstance(payload, dict):
        raise Rejected(400, "`payload` must be an object.")
    if not isinstance(signature, str) or not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise Rejected(400, "`signature` must be 64 lowercase hex digits (HMAC-SHA256).")
    return payload, signature


def verify(payload: dict, signature: str, token: str | None) -> None:
    """403 unless the signature was made with this learner's token."""
    if token is None or not hmac.compare_digest(sign(payload, token), signature):
        raise Rejected(403, "The signature does not match this learner's token: the submission was changed "
                            "after it was signed, or it was signed by someone else.")


def validate(payload: dict, signature: str, cohort_id: str, labs: dict, now: float | None = None) -> Submission:
    """Check the payload's shape against the cohort and its labs (lab id -> catalog.Lab). 400 on any problem.

    Run after :func:`verify`: nothing in an unsigned payload is worth describing."""
    now = now or time.time()
    if payload.get("v") != 1:
        raise Rejected(400, "Unsupported submission version (expected `v`: 1); update `lab`.")
    if payload.get("cohort") not in (None, cohort_id):  # None: signed offline, before the cohort id was known
        raise Rejected(403, "This submission belongs to another cohort.")
    kind = payload.get("kind")
    if kind not in ("check", "progress"):
        raise Rejected(400, "`kind` must be `check` or `progress`.")
    lab_id = payload.get("lab")
    if lab_id not in labs:
        raise Rejected(400, f"Lab {str(lab_id)[:60]!r} is not part of this cohort ({', '.join(labs)}).")
    lab = labs[lab_id]
    nonce = payload.get("nonce")
    if not isinstance(nonce, str) or not _NONCE.match(nonce):
        raise Rejected(400, "`nonce` must be 8-100 characters of letters, digits and _ . : -")
    at = min(parse_time(payload.get("at"), "at"), now)  # a clock ahead of ours cannot claim the future

    task_ids = {task.id for task in lab.spec.tasks}
    tasks: list[tuple[str, str, str]] = []
    if kind == "check":
        report = payload.get("report")
        if not isinstance(report, dict) or report.get("lab") != lab_id or not isinstance(report.get("tasks"), list):
            raise Rejected(400, "`report` must be the `lab check --json` document of the same lab.")
        seen = set()
        for item in report["tasks"]:
            if not isinstance(item, dict):
                raise Rejected(400, "Every entry of `report.tasks` must be an object.")
            task, status, message = item.get("id"), item.get("status"), item.get("message", "")
            if not isinstance(task, str) or not _TASK.match(task) or task not in task_ids:
                raise Rejected(400, f"Lab {lab_id} has no task {str(task)[:60]!r}.")
            if task in seen:
                raise Rejected(400, f"Task {task} appears twice in the report.")
            if status not in STATUSES:
                raise Rejected(400, f"Task {task} has status {str(status)[:20]!r}; expected pass, fail or error.")
            if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
                raise Rejected(400, f"Task {task}'s message must be a string of at most {MAX_MESSAGE_CHARS} characters.")
            seen.add(task)
            tasks.append((task, status, message))

    progress = payload.get("progress")
    hints: dict[str, int] = {}
    started_at = None
    if progress is not None:
        if not isinstance(progress, dict):
            raise Rejected(400, "`progress` must be an object or null.")
        raw_hints = progress.get("hints") or {}
        if not isinstance(raw_hints, dict):
            raise Rejected(400, "`progress.hints` must map task ids to counts.")
        for task, count in raw_hints.items():
            if task not in task_ids or not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100:
                raise Rejected(400, f"`progress.hints` has a bad entry for {str(task)[:60]!r}.")
            hints[task] = count
        if progress.get("started_at") is not None:
            started_at = min(parse_time(progress["started_at"], "progress.started_at"), at)

    files = payload.get("files") or {}
    if not isinstance(files, dict):
        raise Rejected(400, "`files` must map file names to their text.")
    allowed = learner_files(lab)
    total = 0
    for name, text in files.items():
        if name not in allowed:
            raise Rejected(400, f"{str(name)[:60]!r} is not one of lab {lab_id}'s files ({', '.join(sorted(allowed)) or 'none'}).")
        if not isinstance(text, str) or len(text.encode()) > MAX_FILE_BYTES:
            raise Rejected(400, f"{name} must be text of at most {MAX_FILE_BYTES} bytes.")
        total += len(text.encode())
    if total > MAX_FILES_BYTES:
        raise Rejected(413, f"The learner files add up to {total} bytes; the limit is {MAX_FILES_BYTES}.")

    return Submission(payload, signature, payload.get("learner"), lab_id, kind, nonce, at, tasks, hints,
                      started_at, dict(files))


def learner_files(lab) -> set[str]:
    """The files a learner edits in a lab: everything its starter/ and solution/ folders hold.

    Only these travel with a submission (and only for labs with learner-code tasks)."""
    if not any("learner-code" in task.graded_by for task in lab.spec.tasks):
        return set()
    names = set()
    for folder in ("starter", "solution"):
        root = lab.folder / folder
        if root.is_dir():
            names.update(str(path.relative_to(root)) for path in root.rglob("*")
                         if path.is_file() and "__pycache__" not in path.parts and path.suffix == ".py")
    return names
