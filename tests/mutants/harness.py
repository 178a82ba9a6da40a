"""Mutation suites: the proof that a lab's checks enforce the guide's whole requirement.

A **Mutant** is a wrong-but-plausible learner setup, applied on top of the reference
solution: a mistake a senior AWS engineer reviewing the learner's work would reject.
Each one must

1. take effect: `took_effect(ctx)` reads the resource back (or shows that the learner
   code's requests or results differ from the reference's) and returns a short note of
   what it saw, or fails an assertion when the change did not stick;
2. fail **the task it belongs to**, with status `fail` (an `error` is a crashed or
   undecided check, not a caught mistake), on every engine that hosts the lab;
3. get a message free of Python reprs, containing `expect` when one is given.

An **Alternative** is a different but correct setup (an equivalent policy written
another way, a paginator instead of a loop, the learner's own extra resources): every
task must still pass.

A lab's suite (tests/mutants/test_<lab_id_with_underscores>.py) declares both lists
and asks for its tests:

    MUTANTS = [
        Mutant("fare-attribute-as-string", task="validate-fanout",
               why="SNS numeric filters never match a String attribute",
               apply=publish_fare_as_string, took_effect=publisher_sends_string_fare),
        ...
    ]
    ALTERNATIVES = [Alternative("policy-with-string-equals-source-arn", why=..., apply=..., took_effect=...)]
    test_mutant, test_alternative, test_the_suite = suite(LAB, MUTANTS, ALTERNATIVES)

Each case runs on a freshly wiped engine: `lab start`, `lab solve`, then `apply`, then
`took_effect`, then `lab check` (only the mutant's task; every task for an alternative).
With LAB_MUTATION_REPORT set, every outcome is also written there as JSON lines
(tools/grading_doc.py turns them into docs/grading.md).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pytest

from labkit import catalog, emulator, session
from labkit.checks import CheckContext, LearnerRun

MIN_MUTANTS, MIN_ALTERNATIVES = 30, 8

# What a message must never show the learner: Python's own spelling of values.
PYTHON_REPRS = re.compile(r"\{'|\['|\(got None\)|\bis None\b|Decimal\(|datetime\.|object at 0x|\bNoneType\b")

Step = Callable[[CheckContext], object]


@dataclass(frozen=True)
class Mutant:
    name: str  # kebab-case, unique in the suite
    task: str  # the task it must fail
    why: str  # what a reviewer would say, in AWS's terms (it goes into docs/grading.md)
    apply: Step  # change the solved lab into the mistake
    took_effect: Step  # read the change back; a note of what was seen, or an AssertionError
    expect: str | None = None  # a phrase the fail message must contain
    skip_on: Mapping[str, str] = field(default_factory=dict)  # engine -> why it cannot express this mistake


@dataclass(frozen=True)
class Alternative:
    name: str
    why: str  # why it is correct although it differs from the reference
    apply: Step
    took_effect: Step
    skip_on: Mapping[str, str] = field(default_factory=dict)


# -- helpers for the suites ------------------------------------------------------------------------------
def reference_file(lab_id: str, filename: str) -> str:
    """The reference solution's version of a workspace file."""
    return (Path(catalog.find_folder(lab_id)) / "solution" / filename).read_text(encoding="utf-8")


def edited(source: str, *replacements: tuple[str, str], append: str = "") -> str:
    """`source` with each (old, new) replaced once; an `old` that is not there is the suite's own bug."""
    for old, new in replacements:
        assert source.count(old) == 1, f"expected exactly one {old!r} in the source"
        source = source.replace(old, new)
    return source + ("\n\n" + append.strip("\n") + "\n" if append else "")


def write_workspace(ctx: CheckContext, filename: str, source: str) -> None:
    (ctx.workspace / filename).write_text(source, encoding="utf-8")


def run_source(ctx: CheckContext, source: str, function: str, *args, **kwargs) -> LearnerRun:
    """Import `source` as learner code (a throw-away file in the workspace) and run
    `function` as a check would: recorded, against the emulator. For `took_effect` of
    code mutants, to show that the requests or the result differ from the reference's."""
    filename = f"_mutant_{uuid.uuid4().hex[:8]}.py"
    write_workspace(ctx, filename, source)
    try:
        return ctx.run_learner(ctx.learner_function(filename, function), *args, **kwargs)
    finally:
        (ctx.workspace / filename).unlink()


def sent(run: LearnerRun) -> list[tuple[str, str, str]]:
    """(service, operation, parameters) of every request a run sent, comparable across runs."""
    return [(r.service, r.operation, json.dumps(r.params, sort_keys=True, default=str)) for r in run.requests]


# -- the tests ------------------------------------------------------------------------------------------
def _context(lab_id: str) -> CheckContext:
    return session.make_context(catalog.get(lab_id), emulator.current_state())


def _solved(lab_id: str, lab_home) -> CheckContext:
    session.start_lab(lab_id, backend=lab_home.engine)
    session.solve_lab(lab_id)
    return _context(lab_id)


def _record(row: dict) -> None:
    path = os.environ.get("LAB_MUTATION_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


def _skip_reason(lab_id: str, case, engine: str, tasks: list[str]) -> str | None:
    if engine in case.skip_on:
        return f"{engine} cannot express this setup: {case.skip_on[engine]}"
    lab = catalog.get(lab_id)
    hosted_nowhere = [t for t in tasks if engine in lab.spec.task(t).not_on]
    if hosted_nowhere:
        return f"{engine} cannot host {', '.join(hosted_nowhere)} (lab.yaml not_on)"
    return None


def suite(lab_id: str, mutants: list[Mutant], alternatives: list[Alternative]):
    """The three tests of a lab's mutation suite: every mutant caught by its own task,
    every alternative passing every task, and the suite itself complete."""
    lab = catalog.get(lab_id)
    learner_tasks = [task.id for task in lab.spec.tasks if task.kind == "learner"]

    @pytest.mark.parametrize("mutant", mutants, ids=[m.name for m in mutants])
    def test_mutant(mutant: Mutant, lab_home, engine):
        reason = _skip_reason(lab_id, mutant, engine, [mutant.task])
        row = {"lab": lab_id, "kind": "mutant", "name": mutant.name, "task": mutant.task, "why": mutant.why,
               "engine": engine}
        if reason:
            _record({**row, "outcome": "skipped", "message": reason})
            pytest.skip(reason)
        ctx = _solved(lab_id, lab_home)
        mutant.apply(ctx)
        try:
            seen = mutant.took_effect(ctx)
        except AssertionError as problem:
            _record({**row, "outcome": "no effect", "message": str(problem)})
            raise AssertionError(f"{mutant.name} did not take effect on {engine}: {problem}") from None
        report = session.check_lab(lab_id, only=mutant.task)
        result = report.tasks[0]
        outcome = {"fail": "caught", "pass": "missed"}.get(result.status, "error")
        _record({**row, "outcome": outcome, "message": result.message, "seen": str(seen or "")})
        assert result.status == "fail", (
            f"{mutant.name} ({mutant.why}) was graded {result.status} on {engine}: {result.message}")
        assert not PYTHON_REPRS.search(result.message), f"a Python repr in the message: {result.message}"
        if mutant.expect:
            assert mutant.expect in result.message, result.message

    @pytest.mark.parametrize("alternative", alternatives, ids=[a.name for a in alternatives])
    def test_alternative(alternative: Alternative, lab_home, engine):
        reason = _skip_reason(lab_id, alternative, engine, learner_tasks)
        row = {"lab": lab_id, "kind": "alternative", "name": alternative.name, "why": alternative.why,
               "engine": engine}
        if reason:
            _record({**row, "outcome": "skipped", "message": reason})
            pytest.skip(reason)
        ctx = _solved(lab_id, lab_home)
        alternative.apply(ctx)
        try:
            seen = alternative.took_effect(ctx)
        except AssertionError as problem:
            _record({**row, "outcome": "no effect", "message": str(problem)})
            raise AssertionError(f"{alternative.name} did not take effect on {engine}: {problem}") from None
        report = session.check_lab(lab_id)
        failed = [(t.id, t.status, t.message) for t in report.tasks if t.status != "pass"]
        _record({**row, "outcome": "passed" if not failed else "rejected",
                 "message": "; ".join(f"{t}: {m}" for t, _, m in failed), "seen": str(seen or "")})
        assert not failed, f"{alternative.name} ({alternative.why}) is correct but was graded: {failed}"

    def test_the_suite():
        """At least 30 mutants and 8 alternatives, uniquely named, each mutant aimed at a real
        learner task, and every learner task with a mutant of its own."""
        names = [case.name for case in (*mutants, *alternatives)]
        assert len(names) == len(set(names)), "duplicate names"
        assert len(mutants) >= MIN_MUTANTS, f"{len(mutants)} mutants; at least {MIN_MUTANTS} wanted"
        assert len(alternatives) >= MIN_ALTERNATIVES, f"{len(alternatives)} alternatives; at least {MIN_ALTERNATIVES}"
        assert {m.task for m in mutants} <= set(learner_tasks), {m.task for m in mutants} - set(learner_tasks)
        assert set(learner_tasks) <= {m.task for m in mutants}, f"tasks without a mutant: " \
            f"{set(learner_tasks) - {m.task for m in mutants}}"
        assert all(case.why.strip() for case in (*mutants, *alternatives))

    return test_mutant, test_alternative, test_the_suite
