"""The README's promises hold: CI runs its test command, and the figures it quotes exist."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    blocks, inside = [], False
    for line in lines:
        if line.startswith("```"):
            inside = not inside and line.strip() == "```bash"
            continue
        if inside:
            blocks.append(line)
    return blocks


def test_the_first_two_commands_install_and_run_the_lab_then_the_tests():
    first, second = readme_commands()[:2]
    assert first.endswith("pip install -e . && lab start sns-fanout")
    assert second.endswith("pip install -e '.[test]' && pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    second = readme_commands()[1]
    assert second in (REPO / ".ci" / "run").read_text().splitlines()


def test_every_shipped_lab_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    for folder in (REPO / "labs").iterdir():
        if (folder / "lab.yaml").is_file():
            assert f"| `{folder.name}` |" in readme, folder.name


def test_the_backend_matrix_covers_every_task_of_every_lab():
    from labkit import catalog

    matrix = (REPO / "docs" / "backends.md").read_text()
    for lab in catalog.all_labs():
        assert f"## {lab.id}:" in matrix, f"rerun tools/backend_matrix.py: {lab.id} is missing"
        for task in lab.spec.tasks:
            assert f"| `{task.id}`" in matrix, f"rerun tools/backend_matrix.py: {lab.id}/{task.id} is missing"
