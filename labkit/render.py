"""Terminal rendering with rich. Degrades to plain lines without a TTY or with NO_COLOR."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

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
