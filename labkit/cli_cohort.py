"""Click commands for workshops: `lab cohort ...` for facilitators, `lab join/leave/handin` for learners.

Registered on the `lab` group by :func:`register` (one line in lab.py). Like the
rest of the CLI, commands import the runtime only when they run, so `lab --help`
stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from labkit.cli_types import FiniteRange

from .defaults import CHECK_TIMEOUT, DEFAULT_PORT
from .errors import EXIT_BAD_INPUT, EXIT_TASKS_FAILED


def _say(text: str) -> None:
    """Print one message; long lines stay whole (paths, tokens and URLs must be copyable)."""
    from . import render

    render.console.print(text, soft_wrap=True)


def _store(ctx: click.Context):
    from .cohort.store import open_cohort

    return open_cohort(ctx.obj.get("cohort") if ctx.obj else None)


def _labs_option(value: str | None) -> list[str]:
    from . import catalog

    if not value:
        return catalog.lab_ids()
    labs = [item.strip() for item in value.split(",") if item.strip()]
    for lab_id in labs:
        catalog.get(lab_id)  # unknown lab: exit 2 with a suggestion
    return labs


@click.group("cohort")
@click.option("--cohort", "cohort_name", envvar="LAB_COHORT", metavar="NAME",
              help="Which cohort (default: the one created last; env LAB_COHORT).")
@click.pass_context
def cohort(ctx, cohort_name):
    """Run a workshop: accounts, a shared emulator, live progress and grades.

    \b
    Shared emulator:  init --roster CSV, serve, check, grades
    Own laptops:      init --roster CSV, serve --no-emulator; learners `lab join`
    Offline:          learners `lab handin`; you `lab cohort import FILES`
    """
    ctx.ensure_object(dict)
    ctx.obj["cohort"] = cohort_name


@cohort.command("init")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV: name plus email and/or id, one learner per line.")
@click.option("--name", help="Cohort name (default: the roster's file name).")
@click.option("--labs", "labs_text", metavar="LAB,LAB", help="The labs of this workshop (default: all).")
@click.option("--url", help="The address learners will use (default: http://<this machine's LAN address>:4566).")
@click.option("--engine", type=click.Choice(["ministack", "moto"]), default="ministack", show_default=True,
              help="The shared emulator `lab cohort serve` runs.")
def init(roster, name, labs_text, url, engine):
    """Create a cohort: an account id and a token per learner, and their instruction sheets."""
    import re

    from . import render
    from .cohort import roster as roster_module
    from .cohort import sheets
    from .cohort.store import CohortStore, set_current

    entries = roster_module.read(roster)
    labs = _labs_option(labs_text)
    name = name or re.sub(r"[^a-z0-9-]+", "-", roster.stem.lower()).strip("-")[:40] or "workshop"
    url = (url or sheets.default_url(DEFAULT_PORT)).rstrip("/")
    store, token = CohortStore.create(name, entries, labs, url, engine)
    set_current(name)
    folder = sheets.write_sheets(store)
    _say(f"Created cohort [bold]{name}[/] with {len(entries)} learners and labs {', '.join(labs)}.")
    _say(f"State: {store.folder} (owner-only files)")
    _say(f"Instruction sheets: {folder} (one per learner; each holds that learner's token)")
    _say(f"Learners will use: {url}  (change it with `lab cohort sheets --url URL`)")
    _say(f"\nFacilitator token (shown once, stored only as a hash):\n  [bold]{token}[/]\n")
    render.note(f"Next: `lab cohort serve` (shared {engine} emulator + dashboard), then hand out the sheets.")


@cohort.command("add")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def add(ctx, roster):
    """Add late arrivals: learners of ROSTER not yet in the cohort get accounts and sheets."""
    from .cohort import roster as roster_module
    from .cohort import sheets

    store = _store(ctx)
    added = store.add_learners(roster_module.read(roster))
    if not added:
        _say("Everyone on that roster is already in the cohort.")
        return
    folder = sheets.write_sheets(store, learners=added)
    _say(f"Added {len(added)} learners to {store.name}: {', '.join(learner.id for learner in added)}.")
    _say(f"Their sheets are in {folder}.")


@cohort.command("sheets")
@click.option("--url", help="The address learners use (stored for later sheets too).")
@click.pass_context
def sheets_command(ctx, url):
    """(Re)write every learner's instruction sheet."""
    from .cohort import sheets

    store = _store(ctx)
    if url:
        store.set_meta("url", url.rstrip("/"))
    folder = sheets.write_sheets(store)
    _say(f"Wrote {len(store.learners())} sheets to {folder} for {store.meta()['url']}.")


@cohort.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; 0.0.0.0 for learners on other machines.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--engine", type=click.Choice(["ministack", "moto"]), help="Shared emulator engine (default: init's).")
@click.option("--no-emulator", is_flag=True, help="Collector and dashboard only: learners use their own laptops.")
@click.option("--stuck-minutes", type=FiniteRange(1, 600), default=10, show_default=True,
              help="A learner without a new pass for this long shows as stuck.")
@click.option("--grade-every", type=FiniteRange(15, 3600), metavar="SECONDS",
              help="Also grade every account this often (shared emulator).")
@click.option("--no-learner-code", is_flag=True, help="Central grading never runs handed-in learner code.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate (with --keyfile).")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
@click.option("--keep-emulator", is_flag=True, help="Leave the shared emulator running when serve stops.")
@click.pass_context
def serve(ctx, host, port, engine, no_emulator, stuck_minutes, grade_every, no_learner_code, certfile, keyfile,
          keep_emulator):
    """Run the shared emulator, the collector and the live dashboard until Ctrl-C."""
    from . import render
    from .cohort import web
    from .errors import BadInput

    if bool(certfile) != bool(keyfile):
        raise BadInput("--certfile and --keyfile go together.")
    store = _store(ctx)
    engine_name = None if no_emulator else (engine or store.meta().get("engine", "ministack"))
    if host not in ("127.0.0.1", "localhost", "::1"):
        render.note(f"Listening on {host}: learners on your network can reach it. Tokens and account ids travel in "
                    "clear unless you pass --certfile/--keyfile.")
    web.serve(store, host, port, engine_name, certfile=certfile, keyfile=keyfile, stuck_minutes=stuck_minutes,
              grade_every=grade_every, learner_code=not no_learner_code, keep_emulator=keep_emulator,
              announce=_say)


@cohort.command("setup")
@click.argument("lab_id", metavar="LAB")
@click.pass_context
def setup(ctx, lab_id):
    """Create LAB's starting resources in every learner account (what `lab start` does for one)."""
    from . import render
    from .cohort import grader

    store = _store(ctx)
    result = grader.run(store, lab_id, op="setup")
    _say(f"Set up {lab_id} in {result.ok}/{result.learners} accounts in {result.seconds:.1f} s.")
    for account, error in sorted(result.failed.items()):
        render.error(f"{account}: {error}")
    if result.failed:
        sys.exit(EXIT_TASKS_FAILED)


@cohort.command("check")
@click.argument("lab_id", metavar="[LAB]", required=False)
@click.option("--no-learner-code", is_flag=True, help="Do not run handed-in learner code (those tasks become errors).")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=CHECK_TIMEOUT, show_default=True,
              help="Seconds each task's check may take.")
@click.option("--workers", type=click.IntRange(1, 16), help="Grading processes (default: one per core, at most 4).")
@click.option("--json", "as_json", is_flag=True, help="Print a summary per lab as JSON.")
@click.pass_context
def check(ctx, lab_id, no_learner_code, timeout, workers, as_json):
    """Grade every learner's account on the shared emulator (all the cohort's labs, or LAB).

    Exit code 0 when every account was graded (whatever its results), 1 when some
    could not be, 3 when the shared emulator is not running."""
    import statistics

    from . import render
    from .cohort import grader

    store = _store(ctx)
    labs = [lab_id] if lab_id else store.labs()
    summaries = []
    for lab in labs:
        if as_json or not sys.stdout.isatty():
            result = grader.run(store, lab, learner_code=not no_learner_code, timeout=timeout, workers=workers)
        else:
            with render.console.status(f"Grading {lab}...") as status:
                result = grader.run(store, lab, learner_code=not no_learner_code, timeout=timeout, workers=workers,
                                    progress=lambda done, total: status.update(f"Grading {lab}: {done}/{total}"))
        passed = [report["passed"] for report in result.reports.values()]
        total = next((report["total"] for report in result.reports.values()), 0)
        summary = {"lab": lab, "learners": result.learners, "graded": len(result.reports), "complete": result.complete,
                   "median_passed": statistics.median(passed) if passed else None, "tasks": total,
                   "seconds": round(result.seconds, 2), "failed": result.failed}
        summaries.append(summary)
        if not as_json:
            median = f"{summary['median_passed']:g}/{total}" if passed else "-"
            _say(f"{lab}: graded {summary['graded']}/{result.learners} accounts in {result.seconds:.1f} s; "
                                 f"{result.complete} complete, median {median} tasks passed.")
            for account, error in sorted(result.failed.items()):
                render.error(f"{account}: {error}")
    if as_json:
        render.print_json(summaries)
    else:
        render.note("Results are on the dashboard and in `lab cohort grades`.")
    if any(summary["failed"] for summary in summaries):
        sys.exit(EXIT_TASKS_FAILED)  # some accounts could not be graded at all (listed above)


@cohort.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def import_command(ctx, files):
    """Merge hand-in files (from `lab handin`); a file with any bad signature is refused whole."""
    from . import catalog, render
    from .cohort import handins

    store = _store(ctx)
    labs = {lab_id: catalog.get(lab_id) for lab_id in store.labs()}
    bad = 0
    for path in files:
        result = handins.import_handin(store, labs, path)
        if result.ok:
            _say(f"{path}: {result.name} ({result.learner}): {result.submissions} submissions, "
                                 f"{result.stored} new, {result.submissions - result.stored} already stored.")
        else:
            bad += 1
            render.error(f"{path} was not imported. {result.error}")
    if bad:
        sys.exit(EXIT_BAD_INPUT)


@cohort.command("grades")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--policy", type=click.Choice(["best", "latest"]), default="best", show_default=True,
              help="best: a task counts once it has passed; latest: only if its last check passed.")
@click.option("--sources", type=click.Choice(["all", "central", "learner"]), default="all", show_default=True,
              help="Which checks count: yours (central), the learners' own, or both.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout.")
@click.pass_context
def grades(ctx, fmt, policy, sources, out):
    """One row per learner, one column per task (exact points), per-lab totals and the total."""
    from . import catalog
    from .cohort import analysis

    store = _store(ctx)
    labs = {lab_id: catalog.get(lab_id) for lab_id in store.labs()}
    document = analysis.grades(store.snapshot(), labs, policy=policy, sources=sources)
    text = analysis.grades_csv(document) if fmt == "csv" else json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out:
        out.write_text(text, encoding="utf-8", newline="")
        click.echo(f"Wrote {len(document['learners'])} learners to {out}.", err=True)
    else:
        click.echo(text, nl=False)


@cohort.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx, as_json):
    """The cohort at a glance: learners, labs, server, submissions."""
    from . import catalog, render
    from .cohort import analysis, engine

    store = _store(ctx)
    labs = {lab_id: catalog.get(lab_id) for lab_id in store.labs()}
    grid = analysis.build(store.snapshot(), labs)
    info = engine.server_info(store)
    summary = {"cohort": store.name, "folder": str(store.folder), "learners": grid["cohort"]["learners"],
               "url": store.meta()["url"], "serving": info is not None, "local_url": info["local_url"] if info else None,
               "labs": [{k: lab[k] for k in ("id", "started", "complete", "learners")} for lab in grid["labs"]],
               "stuck": len(grid["stuck"]), "submissions": store.submission_count()}
    if as_json:
        render.print_json(summary)
        return
    _say(f"Cohort [bold]{store.name}[/]: {summary['learners']} learners, {summary['submissions']} checks stored")
    _say(f"Server: {'running at ' + summary['local_url'] if info else 'not running (`lab cohort serve`)'}")
    for lab in summary["labs"]:
        _say(f"  {lab['id']}: {lab['complete']} complete, {lab['started'] - lab['complete']} in progress, "
                             f"{lab['learners'] - lab['started']} not started")
    if summary["stuck"]:
        _say(f"  {summary['stuck']} stuck (see the dashboard)")


@cohort.command("token")
@click.option("--rotate", is_flag=True, required=True, help="Make a new facilitator token (the old one stops working).")
@click.pass_context
def token(ctx, rotate):
    """Replace the facilitator token (it is stored hashed, so it cannot be shown again)."""

    store = _store(ctx)
    new = store.rotate_facilitator_token()
    _say(f"New facilitator token for {store.name} (shown once):\n  [bold]{new}[/]")


@cohort.command("stop")
@click.pass_context
def stop(ctx):
    """Stop the cohort's shared emulator if `serve` left it running."""
    from .cohort import engine

    _say(engine.stop_engine(_store(ctx)))


@cohort.command("list")
def list_cohorts():
    """The cohorts under LAB_HOME."""
    from .cohort.store import cohort_names, current_name

    current = current_name()
    for name in cohort_names():
        click.echo(("* " if name == current else "  ") + name)


# -- learners -------------------------------------------------------------------------------------------
@click.command("join")
@click.argument("url", required=False)
@click.option("--token", required=True, help="The token on your instruction sheet.")
@click.option("--local", is_flag=True, help="Keep using your own emulator; only send results.")
def join(url, token, local):
    """Join a workshop: from now on every `lab check` is also sent to the facilitator.

    \b
    lab join http://10.0.0.5:4566 --token 4829...   shared emulator (or results only if it runs none)
    lab join http://10.0.0.5:4566 --token ... --local   your own emulator, results sent
    lab join --token ...                              offline: `lab handin` at the end
    """
    from . import render
    from .cohort import learner

    member, info, note = learner.join(url, token, local=local)
    who = f"{member.name} (account {member.learner})" if member.name else f"account {member.learner}"
    if info:
        _say(f"Joined cohort [bold]{info['cohort']}[/] as {who}.")
        _say(f"Every `lab check` now also goes to {member.url}, in the background.")
    else:
        _say(f"Saved your token for account {member.learner} (offline: nothing is sent).")
        _say("At the end, `lab handin` writes the file to give your facilitator.")
    if note:
        render.note(note)
    if info and member.shared:
        labs = info.get("labs") or ["LAB"]
        _say(f"Next: `lab start {labs[0]}`, then `eval \"$(lab env)\"` for the AWS CLI.")


@click.command("leave")
def leave():
    """Stop sending results to the workshop (forgets the token and anything still queued)."""
    from .cohort import learner

    member, pending = learner.leave()
    if member is None:
        _say("You are not in a cohort.")
        return
    dropped = f"; {pending} unsent submissions were dropped (`lab handin` before leaving keeps them)" if pending else ""
    _say(f"Left cohort {member.cohort_name or ''}{dropped}.".replace("  ", " "))


@click.command("handin")
@click.option("--out", type=click.Path(path_type=Path), help="File or folder to write (default: ./handin-<account>-<time>.json).")
def handin(out):
    """Write your checks, hints and lab code to one signed file for the facilitator."""
    from .cohort import learner

    path, summary = learner.handin(out)
    files = f"; files: {', '.join(summary['files'])}" if summary["files"] else ""
    _say(f"Wrote {path}: {len(summary['labs'])} labs ({', '.join(summary['labs'])}), "
                         f"{summary['checks']} checks{files}.")
    _say("Give this file to your facilitator (`lab cohort import`). Editing it makes it invalid.")


# -- hooks into the existing CLI ----------------------------------------------------------------------------
def _attach_observer() -> None:
    """Queue every recorded check for the collector, once the learner has joined a cohort.

    Cheap when not joined (one stat); when joined, `labkit.session` is imported,
    which every checking command imports anyway."""
    import os

    home = os.environ.get("LAB_HOME")
    try:
        from .cohort.learner import membership_path

        if home is not None and not Path(home).expanduser().joinpath("cohort", "membership.json").exists():
            return
        if not membership_path().exists():
            return
        from . import session
        from .cohort.learner import after_check

        if after_check not in session.AFTER_CHECK:
            session.AFTER_CHECK.append(after_check)
    except Exception:  # noqa: BLE001 - never in the way of the learner's command
        return


def _status_with_cohort(original):
    """`lab status` plus one line about the cohort (and a `cohort` key with --json)."""

    def callback(*args, **kwargs):
        from .cohort.learner import membership_path

        if not membership_path().exists():
            return original(*args, **kwargs)
        from .cohort.learner import status_summary

        summary = status_summary()
        if kwargs.get("as_json"):
            import contextlib
            import io

            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                result = original(*args, **kwargs)
            try:
                document = json.loads(buffer.getvalue())
                document["cohort"] = summary
                print(json.dumps(document, indent=2, ensure_ascii=False))
            except ValueError:
                sys.stdout.write(buffer.getvalue())
            return result
        result = original(*args, **kwargs)

        where = summary["url"] or "offline (hand in with `lab handin`)"
        line = f"Cohort: {summary['cohort'] or '?'} as {summary['name'] or summary['learner']}, results to {where}"
        if summary["pending"]:
            line += f"; [yellow]{summary['pending']} pending[/]"
            if summary["last_error"]:
                line += f" (last try: {summary['last_error']}; retrying in the background)"
        elif summary["url"]:
            line += "; nothing pending"
        if summary["rejected"]:
            line += f"; [red]{summary['rejected']} rejected[/]: {summary['last_error']}"
        _say(line)
        return result

    return callback


def register(cli: click.Group) -> None:
    """Add the workshop commands to `lab` and hook checks and status (called once from lab.py)."""
    for command in (cohort, join, leave, handin):
        cli.add_command(command)
    group_callback = cli.callback

    def callback(*args, **kwargs):
        _attach_observer()
        return group_callback(*args, **kwargs) if group_callback else None

    cli.callback = callback
    status_command = cli.commands.get("status")
    if status_command is not None and status_command.callback is not None:
        status_command.callback = _status_with_cohort(status_command.callback)

