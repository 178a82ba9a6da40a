"""The lab catalog: every shipped lab is valid, and a broken one is named precisely."""

from __future__ import annotations

import textwrap

import pytest

from labkit import catalog
from labkit.errors import EXIT_BAD_INPUT, LabFormatError, UnknownLab

VALID = """
id: demo-lab
title: Demonstrate a lab
summary: A lab used by the tests.
services: [sqs]
minutes: 5
achievement: Demonstrated a lab
references: [{label: Docs, url: "https://docs.aws.amazon.com/"}]
tasks:
  - id: first-task
    title: Do the first thing
    hints: ["Think", "awslocal sqs create-queue --queue-name demo"]
"""


def make_lab(root, text: str, lab_id: str = "demo-lab", checker: str | None = None):
    folder = root / "labs" / lab_id
    folder.mkdir(parents=True)
    (folder / "lab.yaml").write_text(textwrap.dedent(text))
    (root / "checkers").mkdir(exist_ok=True)
    if checker is not None:
        (root / "checkers" / (lab_id.replace("-", "_") + ".py")).write_text(textwrap.dedent(checker))
    return folder


@pytest.fixture
def extra_labs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_PATH", str(tmp_path / "labs"))
    return tmp_path


def test_every_shipped_lab_loads_with_a_checker_for_each_task():
    labs = catalog.all_labs()
    assert "sns-fanout" in [lab.id for lab in labs]
    for lab in labs:
        checker = lab.checker()
        assert set(checker.checks) == {task.id for task in lab.spec.tasks}, lab.id
        assert checker.solve_fn and checker.cleanup_fn, lab.id
        assert lab.readme.is_file(), lab.id
        assert any(task.kind == "learner" for task in lab.spec.tasks)


def test_every_task_has_progressive_hints_ending_in_a_worked_command():
    for lab in catalog.all_labs():
        for task in lab.spec.tasks:
            assert len(task.hints) >= 2, f"{lab.id}/{task.id} needs progressive hints"


def test_unknown_lab_suggests_the_closest_name():
    with pytest.raises(UnknownLab) as raised:
        catalog.get("sns-fanuot")
    assert "Did you mean 'sns-fanout'?" in str(raised.value)
    assert raised.value.exit_code == EXIT_BAD_INPUT


def test_unknown_lab_without_a_close_name_points_to_lab_list():
    with pytest.raises(UnknownLab) as raised:
        catalog.get("kubernetes")
    assert "Did you mean" not in str(raised.value)
    assert "lab list" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda t: t.replace("minutes: 5", "minutes: five"), "minutes", "is invalid"),
        (lambda t: t.replace("title: Demonstrate a lab\n", ""), "title", "is required"),
        (lambda t: t.replace('hints: ["Think", "awslocal sqs create-queue --queue-name demo"]', "hints: []"),
         "tasks.0.hints", "is invalid"),
        (lambda t: t.replace("    hints:", "    hint:"), "tasks.0.hint", "is not a known field"),
        (lambda t: t.replace("id: first-task", "id: First Task"), "tasks.0.id", "is invalid"),
        (lambda t: t.replace("id: demo-lab", "id: other-lab"), "id", "but the folder is named"),
        (lambda t: t.replace("services: [sqs]", "services: [sqs"), "line", "is not valid YAML"),
        (lambda t: "- just\n- a list\n", "(top level)", "must be a mapping"),
    ],
)
def test_malformed_lab_yaml_names_the_file_and_the_field(extra_labs, change, field, problem):
    folder = make_lab(extra_labs, change(VALID))
    with pytest.raises(LabFormatError) as raised:
        catalog.get("demo-lab")
    text = str(raised.value)
    assert str(folder / "lab.yaml") in text
    assert field in raised.value.field
    assert problem in text
    assert raised.value.exit_code == EXIT_BAD_INPUT


def test_duplicate_task_ids_are_rejected(extra_labs):
    text = VALID + '  - id: first-task\n    title: Do it again\n    hints: ["a", "b"]\n'
    make_lab(extra_labs, text)
    with pytest.raises(LabFormatError, match="appears twice"):
        catalog.get("demo-lab")


def test_a_checker_missing_a_task_is_named(extra_labs):
    make_lab(extra_labs, VALID, checker="""
        from labkit.checks import Checker
        checker = Checker("demo-lab")
    """)
    with pytest.raises(LabFormatError, match="has no check for task\\(s\\) first-task"):
        catalog.get("demo-lab").checker()


def test_a_lab_from_lab_path_loads_its_checker_beside_it(extra_labs):
    make_lab(extra_labs, VALID, checker="""
        from labkit.checks import Checker
        checker = Checker("demo-lab")

        @checker.task("first-task")
        def first(ctx):
            return "done"
    """)
    assert "demo-lab" in catalog.lab_ids()
    assert set(catalog.get("demo-lab").checker().checks) == {"first-task"}
