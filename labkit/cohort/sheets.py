"""Per-learner instruction sheets: Markdown files (0600, they carry the learner's token)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from ..aws import DEFAULT_REGION, DUMMY_SECRET
from ..defaults import DEFAULT_PORT
from .store import CohortStore, Learner, _private_dir, write_private


def default_url(port: int = DEFAULT_PORT) -> str:
    """http://<this machine's LAN address>:PORT (no packet is sent to find it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    return f"http://{address}:{port}"


def sheet(store: CohortStore, learner: Learner, url: str, labs: list[str]) -> str:
    first = labs[0] if labs else "LAB"
    name = store.name
    return f"""# Workshop `{name}`: instructions for {learner.name}

Keep this sheet to yourself: the token below identifies you.

- Learner id: `{learner.id}`
- Your AWS account on the workshop emulator: `{learner.account_id}`
- Your token: `{learner.token}`
- Labs: {', '.join(f'`{lab}`' for lab in labs)}

## A. On the workshop's shared emulator (the facilitator runs it)

With `lab` installed:

```bash
lab join {url} --token {learner.token}
lab start {first}
eval "$(lab env)"
```

`lab join` points `lab` at the shared emulator as your account; `lab check`
then grades your account and sends the result to the facilitator.

Without `lab` (AWS CLI, awslocal or boto3 only):

```bash
export AWS_ENDPOINT_URL={url}
export AWS_ACCESS_KEY_ID={learner.account_id}
export AWS_SECRET_ACCESS_KEY={DUMMY_SECRET}
export AWS_DEFAULT_REGION={DEFAULT_REGION}
```

or as an AWS CLI profile (`aws --profile workshop ...`). In `~/.aws/config`:

```ini
[profile workshop]
region = {DEFAULT_REGION}
endpoint_url = {url}
```

and in `~/.aws/credentials`:

```ini
[workshop]
aws_access_key_id = {learner.account_id}
aws_secret_access_key = {DUMMY_SECRET}
```

Your account id works like a password on the shared emulator: do not post it
in the chat (ARNs contain it too).

## B. On your own laptop (your own emulator; only results are shared)

```bash
lab join {url} --token {learner.token} --local
lab start {first}
```

Every `lab check` is then also sent to the facilitator in the background (it
never slows your check; `lab status` shows anything still waiting). No
network? Join offline and hand in a file at the end:

```bash
lab join --token {learner.token}
lab handin            # writes handin-{learner.account_id}-<time>.json: give it to the facilitator
```
"""


def write_sheets(store: CohortStore, learners: list[Learner] | None = None, url: str | None = None) -> Path:
    meta = store.meta()
    url = url or meta["url"]
    labs = store.labs()
    folder = _private_dir(store.folder / "sheets")
    if learners is None:
        learners = store.learners()
        shutil.rmtree(folder)
        folder = _private_dir(folder)
    for learner in learners:
        write_private(folder / f"{_file_name(learner)}.md", sheet(store, learner, url, labs))
    index = ["| learner | name | account | sheet |", "| --- | --- | --- | --- |"]
    for learner in store.learners():
        index.append(f"| {learner.id} | {learner.name} | {learner.account_id} | {_file_name(learner)}.md |")
    write_private(folder / "INDEX.md", f"# Cohort {store.name}: instruction sheets\n\nURL: {url}\n\n" + "\n".join(index) + "\n")
    return folder


def _file_name(learner: Learner) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in learner.id)
    return f"{safe}-{learner.account_id}"
