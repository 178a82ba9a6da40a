"""Read a roster CSV: one learner per line, `name` plus `email` and/or `id`.

Accepted shapes (a spreadsheet export is the usual source):

    name,email                    name;email;id           Ada Lovelace,ada@example.org
    Ada Lovelace,ada@example.org  (semicolons, as          (no header: name, then email or id)
                                   European Excel writes)

A header row is recognised by a `name` column. Blank lines and lines starting
with `#` are skipped; a UTF-8 byte-order mark is ignored. Every problem names
the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput

MAX_LEARNERS = 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


@dataclass(frozen=True)
class RosterEntry:
    id: str  # the learner's id in exports: the `id` column, else the email
    name: str
    email: str | None
    line: int


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "learner"


def parse(text: str, source: str = "roster") -> list[RosterEntry]:
    text = text.lstrip("\ufeff")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise BadInput(f"{source} has no learners.", fix="one line per learner: name,email")
    sample = "\n".join(line for _, line in lines[:5])
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    rows = [(number, [cell.strip() for cell in next(csv.reader(io.StringIO(line), delimiter=delimiter))])
            for number, line in lines]

    header = [cell.lower() for cell in rows[0][1]]
    if "name" in header:
        columns = {name: header.index(name) for name in ("name", "email", "id") if name in header}
        if "email" not in columns and "id" not in columns:
            raise BadInput(f"{source} line {rows[0][0]}: the header needs an `email` or an `id` column beside `name`.")
        rows = rows[1:]
    else:
        columns = {"name": 0, "email": 1}

    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for number, cells in rows:
        def cell(column: str) -> str:
            index = columns.get(column)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        name, email, explicit_id = cell("name"), cell("email"), cell("id")
        if "id" not in columns and email and "@" not in email:
            email, explicit_id = "", email  # headerless `name,id`
        if not name:
            raise BadInput(f"{source} line {number}: the name is empty.")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            raise BadInput(f"{source} line {number}: '{email}' is not an email address.")
        learner_id = explicit_id or email or _slug(name)
        if not _ID.match(learner_id):
            raise BadInput(f"{source} line {number}: id '{learner_id}' may only use letters, digits and . _ @ + -")
        key = learner_id.lower()
        if key in seen:
            raise BadInput(f"{source} line {number}: '{learner_id}' is already on line {seen[key]}; ids must be unique.")
        seen[key] = number
        entries.append(RosterEntry(learner_id, name, email or None, number))
    if not entries:
        raise BadInput(f"{source} has a header but no learners.")
    if len(entries) > MAX_LEARNERS:
        raise BadInput(f"{source} lists {len(entries)} learners; one cohort holds at most {MAX_LEARNERS}.",
                       fix="split the roster over several cohorts (see docs/workshops.md, scaling)")
    return entries


def read(path: Path) -> list[RosterEntry]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"Roster {path} does not exist.") from None
    except UnicodeDecodeError:
        raise BadInput(f"Roster {path} is not UTF-8 text.", fix="save it as CSV UTF-8 from your spreadsheet") from None
    return parse(text, str(path))
