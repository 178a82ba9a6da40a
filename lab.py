"""`lab`: guided AWS exercises on a local emulator, graded automatically.

This file only parses arguments, calls the runtime (labkit) and renders the
result. Exit codes: 0 all tasks passed (or the command succeeded), 1 some task
failed, 2 usage or bad input, 3 emulator not reachable.
"""

from __future__ import annotations

import shlex
import sys
import time

import click

from labkit.cli_types import FiniteRange
from labkit.defaults import BACKEND_CHOICES, CHECK_TIMEOUT, DEFAULT_PORT
from labkit.errors import EXIT_EMULATOR, EXIT_OK, EXIT_TASKS_FAILED, LabError

# Commands import the runtime when they run: boto3, pydantic and rich together
# take ~0.3 s to import, which `lab --help` and shell completion should not pay.


def complete_lab_ids(ctx, param, incomplete):
    from labkit import catalog

    return [lab_id for lab_id in catalog.lab_ids() if lab_id.startswith(incomplete)]


class LabGroup(click.Group):
    """Turns expected failures into one sentence on stderr and the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LabError as problem:
            from labkit import render

            render.error(str(problem))
            sys.exit(problem.exit_code)


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="lab")
def cli():
    """Guided AWS labs on a local emulator, graded by `lab check`.

    Start with `lab list`, then `lab start sns-fanout`.
    """


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_labs(as_json):
    """List the labs and your progress in each."""
    from labkit import catalog, render
    from labkit.progress import ProgressStore

    store = ProgressStore()
    rows = []
    labs, problems = catalog.scan()
    for problem in problems:
        render.error(f"skipped an invalid lab: {problem}")
    for lab in labs:
        progress = store.lab_progress(lab.id)
        done = len(progress.first_passes) if progress else 0
        state = "not started" if not progress else ("complete" if progress.completed_at else f"{done}/{len(lab.spec.tasks)}")
        rows.append({"id": lab.id, "title": lab.spec.title, "services": lab.spec.services,
                     "minutes": lab.spec.minutes, "progress": state})
    render.print_json(rows) if as_json else render.lab_table(rows)


@cli.command()
@click.argument("lab_id", metavar="LAB", shell_complete=complete_lab_ids)
@click.option("--path", "path_only", is_flag=True, help="Print the lab's folder and nothing else.")
@click.option("--workspace", "workspace_only", is_flag=True, help="Print your workspace folder for the lab.")
@click.option("--json", "as_json", is_flag=True, help="The lab's metadata and tasks as JSON.")
def show(lab_id, path_only, workspace_only, as_json):
    """Show a lab's guide and tasks."""
    from labkit import catalog, render
    from labkit.workspace import workspace_for

    lab = catalog.get(lab_id)
    if path_only:
        click.echo(str(lab.folder))
    elif workspace_only:
        click.echo(str(workspace_for(lab.id)))
    elif as_json:
        render.print_json(lab.spec.model_dump())
    else:
        render.markdown(lab.readme.read_text(encoding="utf-8"))
        render.console.print("\n[bold]Tasks[/]")
        render.task_list(lab, set())


@cli.command()
@click.argument("lab_id", metavar="LAB", shell_complete=complete_lab_ids)
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
              help="auto: LocalStack when a Docker daemon answers, else embedded ministack.")
@click.option("--endpoint", metavar="URL", help="Use an emulator already running at URL (external backend).")
@click.option("--port", type=click.IntRange(1, 65535), help=f"Port for a new emulator (default {DEFAULT_PORT}).")
@click.option("--allow-remote", is_flag=True,
              help="Allow an --endpoint on another machine (a workshop server); loopback needs no flag.")
@click.option("--access-key", metavar="ACCOUNT_ID",
              help="Sign as this 12-digit account on a shared emulator (a workshop's `lab cohort serve`).")
def start(lab_id, backend, endpoint, port, allow_remote, access_key):
    """Start the emulator (if needed), set up LAB and show its tasks."""
    from labkit import render, session
    from labkit.progress import ProgressStore

    started = time.perf_counter()
    with render.spinner("Starting the emulator and setting up the lab"):
        result = session.start_lab(lab_id, backend=backend, port=port, endpoint=endpoint, access_key=access_key,
                                   allow_remote=allow_remote)
    render.note(result.reason)
    render.console.print(f"Emulator: [bold]{result.state.backend}[/] at {result.state.url}")
    render.console.print(f"Lab: [bold]{result.lab.spec.title}[/] ({result.lab.id}, about {result.lab.spec.minutes} min)")
    copied = f" (new: {', '.join(result.copied)})" if result.copied else ""
    render.console.print(f"Workspace: {result.workspace}{copied}")
    render.console.print("Tasks:")
    progress = ProgressStore().lab_progress(result.lab.id)
    passed = set(progress.first_passes) if progress else set()
    passed |= {task.id for task in result.lab.spec.tasks if task.kind == "setup"}
    render.task_list(result.lab, passed)
    render.console.print(
        f'Next: run [bold]eval "$(lab env)"[/], follow [bold]lab show {result.lab.id}[/], and run [bold]lab check[/] any time.'
    )
    render.note(f"Ready in {time.perf_counter() - started:.2f} s.")


@cli.command()
@click.argument("lab_id", metavar="[LAB]", required=False, shell_complete=complete_lab_ids)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (schema in README).")
@click.option("--task", "only", metavar="TASK", help="Check only this task.")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=CHECK_TIMEOUT, show_default=True,
              help="Seconds each task's check may take.")
def check(lab_id, as_json, only, timeout):
    """Grade every task of LAB (default: the lab started last)."""
    from labkit import render, session

    report = session.check_lab(lab_id, timeout=timeout, only=only)
    render.print_json(report.to_json()) if as_json else render.report(report)
    if report.emulator_lost:
        if not as_json:
            render.error(f"The emulator stopped answering during the check. Fix: lab start {report.lab}")
        sys.exit(EXIT_EMULATOR)
    sys.exit(EXIT_OK if report.all_passed else EXIT_TASKS_FAILED)


@cli.command()
@click.argument("lab_id", metavar="[LAB]", required=False, shell_complete=complete_lab_ids)
@click.option("--interval", type=FiniteRange(0.2, 60), default=1.0, show_default=True,
              help="Seconds between looks for a change.")
def watch(lab_id, interval):
    """Re-grade LAB whenever you change something (h: hint, q: quit)."""
    from labkit import catalog, emulator, render, session
    from labkit.keys import single_keys
    from labkit.progress import ProgressStore
    from labkit.watch import Watcher, sleep_or_key

    store = ProgressStore()
    lab = session.resolve_lab(lab_id, store)
    emulator.require_endpoint(lab.id)  # exit 3 now rather than a silent retry loop
    watcher = Watcher(lab, store)
    try:
        with single_keys() as keys, render.WatchView(lab) as view:
            while True:
                event = watcher.poll()
                view.update(event, time.strftime("%H:%M:%S"))
                if event.report is not None and event.report.all_passed:
                    following = f" Next suggested lab: {lab.spec.next} (`lab start {lab.spec.next}`)." if (
                        lab.spec.next and lab.spec.next in catalog.lab_ids()) else ""
                    view.finish(f"All {event.report.total} tasks of {lab.id} pass: lab complete!{following}")
                    return
                key = sleep_or_key(interval, keys)
                if key in ("h", "H"):
                    unfinished = watcher.first_unfinished()
                    view.show_hint(session.next_hint(unfinished.id if unfinished else None, lab.id, store))
                elif key in ("q", "Q"):
                    view.finish("Stopped watching.")
                    return
    except KeyboardInterrupt:
        render.console.print("Stopped watching.")


@cli.command()
@click.argument("task_id", metavar="[TASK]", required=False)
@click.option("--lab", "lab_id", metavar="LAB", help="Lab to hint (default: the lab started last).",
              shell_complete=complete_lab_ids)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def hint(task_id, lab_id, as_json):
    """Reveal the next hint for the first unfinished task (or TASK)."""
    from labkit import render, session

    given = session.next_hint(task_id, lab_id)
    if as_json:
        render.print_json({"lab": given.lab.id, "task": given.task_id, "title": given.task_title,
                           "number": given.number, "count": given.count, "hint": given.text,
                           "already_passed": given.already_passed})
        return
    last = " (the worked answer)" if given.number == given.count else ""
    render.console.print(f"[bold]{given.task_title}[/] [dim]\\[{given.task_id}][/]")
    render.console.print(f"Hint {given.number}/{given.count}{last}: {given.text}", soft_wrap=True)
    if given.number < given.count:
        render.note("Run `lab hint` again for the next one.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json):
    """Show the emulator and your progress in every lab you started."""
    from labkit import catalog, emulator, render
    from labkit.progress import ProgressStore
    from labkit.workspace import workspace_for

    store = ProgressStore()
    state = emulator.current_state()
    alive = state is not None and emulator.is_alive(state)
    labs = {lab_id: catalog.get(lab_id) for lab_id in catalog.lab_ids()}
    current = store.current_lab()
    entries = []
    for progress in store.all_progress():
        lab = labs.get(progress.lab)
        if lab is None:
            continue
        entries.append({
            "lab": lab.id, "title": lab.spec.title, "current": lab.id == current,
            "passed": len(progress.first_passes), "total": len(lab.spec.tasks),
            "started_at": progress.started_at, "completed_at": progress.completed_at,
            "attempts": progress.attempts, "hints_used": sum(progress.hints_used.values()),
            "workspace": progress.workspace or str(workspace_for(lab.id)),
        })
    emulator_info = {"running": alive, **({"backend": state.backend, "url": state.url} if state else {})}
    if as_json:
        render.print_json({"emulator": emulator_info, "labs": entries})
        return
    if alive:
        render.console.print(f"Emulator: [green]running[/] {state.backend} at {state.url}")
    else:
        render.console.print("Emulator: [red]not running[/] (start one with `lab start LAB`)")
    if not entries:
        render.console.print("No lab started yet: `lab list` shows them.")
    else:
        render.status_table(entries)


@cli.command()
@click.argument("lab_id", metavar="[LAB]", required=False, shell_complete=complete_lab_ids)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(lab_id, yes):
    """Remove LAB's resources from the emulator and forget its progress."""
    from labkit import render, session
    from labkit.progress import ProgressStore
    from labkit.workspace import workspace_for

    store = ProgressStore()
    lab = session.resolve_lab(lab_id, store)
    if not yes and not sys.stdin.isatty():
        from labkit.errors import BadInput

        raise BadInput(f"`lab reset {lab.id}` asks before deleting; pass --yes to reset without a prompt.")
    if not yes:
        click.confirm(f"Remove {lab.id}'s resources and all its progress? Your workspace files are kept.", abort=True)
    session.reset_lab(lab.id, store)
    render.console.print(f"Reset {lab.id}: its resources and progress are gone; {workspace_for(lab.id)} was kept.")


@cli.command()
@click.argument("lab_id", metavar="LAB", shell_complete=complete_lab_ids)
def solve(lab_id):
    """Apply LAB's reference solution (for demos, facilitators and tests)."""
    from labkit import render, session

    lab, ws, backups = session.solve_lab(lab_id)
    render.console.print(f"Applied the reference solution of {lab.id}; its files are in {ws}.")
    for backup in backups:
        render.note(f"Your previous version was kept as {ws / backup}.")
    render.console.print("Run `lab check` to see every task pass.")


@cli.command()
@click.argument("lab_id", metavar="[LAB]", required=False, shell_complete=complete_lab_ids)
@click.argument("name", metavar="[REPORT]", required=False)
def report(lab_id, name):
    """Print a lab's read-only review report (e.g. s3-security's access review)."""
    from labkit import render, session

    lab, name, text = session.run_report(lab_id, name)
    render.markdown(text)


@cli.command()
def stop():
    """Stop the emulator (your progress stays)."""
    from labkit import emulator, render

    render.console.print(emulator.stop())


# awscli-local 0.23 prints a deprecation banner on every call unless told not to.
SHELL_ONLY_ENV = {"DISABLE_DEPRECATION_NOTICE": "1"}


@cli.command()
@click.option("--unset", is_flag=True, help="Print the commands that undo `eval \"$(lab env)\"`.")
@click.option("--json", "as_json", is_flag=True, help="The variables as a JSON object.")
def env(unset, as_json):
    """Print shell exports that point the AWS CLI, awslocal and boto3 at the emulator.

    Use: eval "$(lab env)"
    """
    from labkit import emulator

    if unset:
        names = [*emulator.Endpoint("http://127.0.0.1").environment(), *SHELL_ONLY_ENV]
        click.echo("unset " + " ".join(names))
        return
    endpoint, _ = emulator.require_endpoint()
    if as_json:
        from labkit import render

        render.print_json(endpoint.environment())
        return
    for name, value in {**endpoint.environment(), **SHELL_ONLY_ENV}.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@cli.command()
@click.option("--week", metavar="[DATE]", is_flag=False, flag_value="today", default=None,
              help="The whole weekly page (front matter, objectives, table, achievements) for the week of DATE "
                   "(YYYY-MM-DD; default: this week).")
@click.option("--number", type=click.IntRange(1, 520), help="The week's number on the page (default: weeks since your first lab).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def worklog(week, number, fmt, as_json):
    """Your worklog: Day | Task | Start Date | Completion Date | Reference Material."""
    from datetime import date

    from labkit import catalog, render
    from labkit import worklog as worklog_module
    from labkit.errors import BadInput
    from labkit.progress import ProgressStore

    store = ProgressStore()
    labs = {lab.id: lab for lab in catalog.all_labs()}
    as_json = as_json or fmt == "json"
    if week is None:
        rows = worklog_module.build_rows(store.all_progress(), labs)
        if as_json:
            render.print_json(worklog_module.to_json(rows))
        else:
            click.echo(worklog_module.to_markdown(rows))
        return
    try:
        day = date.today() if week == "today" else date.fromisoformat(week)
    except ValueError:
        raise BadInput(f"'{week}' is not a date; write it as YYYY-MM-DD.") from None
    page = worklog_module.week_page(store.all_progress(), labs, day, number)
    if as_json:
        render.print_json(worklog_module.page_json(page))
    else:
        click.echo(worklog_module.page_markdown(page), nl=False)


from labkit.cli_cohort import register as _register_cohort_commands  # noqa: E402 - after every command

_register_cohort_commands(cli)


def main():
    cli(prog_name="lab")


if __name__ == "__main__":
    main()
