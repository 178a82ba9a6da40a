"""`lab cohort import FILES...`: merge offline hand-ins, all or nothing per file.

A hand-in (written by `lab handin`) is ``{"format": "lab-handin", "version": 1,
"learner": ..., "submissions": [<signed submission>, ...]}``. Every submission
must verify with the learner's token and belong to that learner; one bad
signature, an edited line, or a submission for someone else rejects the whole
file, and nothing of it is stored. Submissions already stored (the same check
sent live earlier, or the same file imported twice) are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import protocol
from .store import CohortStore

MAX_HANDIN_BYTES = 50_000_000


@dataclass
class ImportResult:
    path: Path
    learner: str | None = None
    name: str | None = None
    submissions: int = 0
    stored: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def import_handin(store: CohortStore, labs: dict, path: Path) -> ImportResult:
    result = ImportResult(Path(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        result.error = f"The file cannot be read ({exc.strerror or exc})."
        return result
    if len(raw) > MAX_HANDIN_BYTES:
        result.error = f"It is {len(raw)} bytes; a hand-in is at most {MAX_HANDIN_BYTES}."
        return result
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=protocol._reject_constant)
    except (UnicodeDecodeError, ValueError):
        result.error = "It is not a JSON hand-in file (made by `lab handin`)."
        return result
    if not isinstance(document, dict) or document.get("format") != "lab-handin" or not isinstance(document.get("submissions"), list):
        result.error = "It is not a hand-in: expected {\"format\": \"lab-handin\", \"submissions\": [...]}."
        return result
    if document.get("version") != 1:
        result.error = f"It has hand-in version {document.get('version')!r}; this `lab` reads version 1."
        return result
    claimed = document.get("learner")
    learner = store.learner(str(claimed)) if claimed else None
    if learner is None:
        result.error = f"It is from learner {str(claimed)[:20]!r}, who is not in cohort {store.name}."
        return result
    result.learner, result.name = learner.account_id, learner.name
    meta = store.meta()
    accepted = []
    for index, item in enumerate(document["submissions"], 1):
        try:
            payload, signature = protocol.split_envelope(item)
            if payload.get("learner") != learner.account_id:
                raise protocol.Rejected(403, f"It is for another learner ({str(payload.get('learner'))[:20]}).")
            protocol.verify(payload, signature, learner.token)
            accepted.append(protocol.validate(payload, signature, meta["cohort_id"], labs))
        except protocol.Rejected as rejected:
            result.error = f"Submission {index} of {len(document['submissions'])} was refused: {rejected.message[:1].lower()}{rejected.message[1:]} Nothing from this file was stored."
            return result
    result.submissions = len(accepted)
    for submission in accepted:
        result.stored += store.ingest(submission, source="handin")
    return result
