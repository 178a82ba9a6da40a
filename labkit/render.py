"""Terminal rendering with rich. Degrades to plain lines without a TTY or with NO_COLOR."""

from __future__ import annotations

import contextlib
import json
import sys

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

# A learner's tag, file or message may hold characters the output's encoding lacks (a cp1252
# pipe on Windows, PYTHONIOENCODING=ascii): print an escape rather than crash mid-report.
for _stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(AttributeError, ValueError):
        if (_stream.encoding or "").lower().replace("-", "").replace("_", "") != "utf8":
            _stream.reconfigure(errors="backslashreplace")

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

STATUS_STYLE = {"pass": ("PASS", "green"), "fail": ("FAIL", "red"), "error": ("ERROR", "yellow")}


def print_json(data) -> None:
    # Plain print: rich would wrap long lines and break machine readers.
    print(json.dumps(data, indent=2, ensure_ascii=False))


def error(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)


def note(message: str) -> None:
    console.print(f"[dim]{message}[/]", soft_wrap=True)


def lab_table(rows: list[dict]) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("lab", "title", "services", "min", "progress"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], row["title"], ", ".join(row["services"]), str(row["minutes"]), row["progress"])
    console.print(table)


def status_table(entries: list[dict]) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("", "lab", "progress", "checks", "hints"):
        table.add_column(column)
    table.add_column("workspace", overflow="fold")
    for entry in entries:
        done = "[green]complete[/]" if entry["completed_at"] else f"{entry['passed']}/{entry['total']} tasks"
        table.add_row("*" if entry["current"] else "", entry["lab"], done, str(entry["attempts"]),
                      str(entry["hints_used"]), entry["workspace"])
    console.print(table)
    console.print("[dim]* the current lab: `lab check` and `lab hint` use it when you name none[/]")


@contextlib.contextmanager
def spinner(text: str):
    """A spinner with elapsed seconds while something slow runs (silent without a terminal)."""
    if not console.is_terminal:
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=console, transient=True) as bar:
        bar.add_task(text, total=None)
        yield


def task_list(lab, passed: set[str]) -> None:
    for number, task in enumerate(lab.spec.tasks, 1):
        mark = "[green]✔[/]" if task.id in passed else "[dim]○[/]"
        suffix = " [dim](done by lab start)[/]" if task.kind == "setup" else ""
        console.print(f"  {mark} {number}. {task.title} [dim]\\[{task.id}][/]{suffix}", soft_wrap=True)


def report(report) -> None:
    console.print(f"[bold]{report.title}[/] [dim]({report.lab}, {report.backend})[/]")
    for task in report.tasks:
        word, style = STATUS_STYLE[task.status]
        console.print(f"  [{style}]{word:<5}[/] {task.title} [dim]\\[{task.id}][/]", soft_wrap=True)
        console.print(f"        [dim]{_escape(task.message)}[/]", soft_wrap=True)
    style = "green" if report.all_passed else "red"
    console.print(
        f"[{style}]{report.passed}/{report.total} tasks passed[/], score {report.score:g}/{report.max_score:g} "
        f"[dim]in {report.wall_seconds:.2f} s[/]"
    )


def markdown(text: str) -> None:
    console.print(Markdown(text))


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


class WatchView:
    """`lab watch` on screen: a live task list on a terminal, plain lines elsewhere."""

    FOOTER = "[dim]h: next hint · q: quit · Ctrl-C: leave[/]"

    def __init__(self, lab):
        self.lab = lab
        self.report = None
        self.status = "checking..."
        self.hint = None
        self.live = None
        self._previous: dict[str, str] = {}

    def __enter__(self):
        if console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            console.print(f"Watching {self.lab.id}: re-grading whenever something changes (Ctrl-C to leave).")
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)
        return False

    def _render(self):
        from rich.console import Group
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(width=5)
        table.add_column()
        results = {t.id: t for t in self.report.tasks} if self.report else {}
        for task in self.lab.spec.tasks:
            result = results.get(task.id)
            word, style = STATUS_STYLE[result.status] if result else ("…", "dim")
            table.add_row(f"[{style}]{word}[/]", f"{task.title} [dim]\\[{task.id}][/]")
        parts = [f"[bold]{self.lab.spec.title}[/] [dim]({self.lab.id})[/]", table]
        failing = next((t for t in self.report.tasks if t.status != "pass"), None) if self.report else None
        if failing:
            parts.append(f"\n[bold]Next:[/] {failing.title}\n[dim]{_escape(failing.message)}[/]")
            parts.append("[dim]Press h for a hint.[/]")
        if self.hint:
            parts.append(f"[cyan]{_escape(self.hint)}[/]")
        parts.append(f"[dim]{self.status}[/]  {self.FOOTER}")
        return Group(*parts)

    def _refresh(self):
        if self.live is not None:
            self.live.update(self._render())
        else:
            console.file.flush()  # line mode into a pipe: each update must reach the reader now

    def update(self, event, clock: str) -> None:
        if event.emulator_down:
            self.status = f"{clock} the emulator is not answering; retrying (start it with `lab start {self.lab.id}`)"
            if self.live is None:
                console.print(self.status)
        elif event.report is not None:
            self.report = event.report
            self.status = (f"{clock} checked: {event.report.passed}/{event.report.total} tasks pass "
                           f"({event.report.wall_seconds:.2f} s)")
            if self.live is None:
                for task in event.report.tasks:
                    if self._previous.get(task.id) != task.status:
                        word = STATUS_STYLE[task.status][0]
                        console.print(f"{clock} {word:<5} {task.id}: {_escape(task.message)}", soft_wrap=True)
                console.print(self.status)
            self._previous = {task.id: task.status for task in event.report.tasks}
        self._refresh()

    def show_hint(self, hint) -> None:
        last = " (the worked answer)" if hint.number == hint.count else ""
        self.hint = f"Hint {hint.number}/{hint.count} for {hint.task_id}{last}: {hint.text}"
        if self.live is None:
            console.print(self.hint, soft_wrap=True)
        self._refresh()

    def finish(self, message: str) -> None:
        self.status = message
        self.hint = None
        self._refresh()
        if self.live is None:
            console.print(message, soft_wrap=True)
