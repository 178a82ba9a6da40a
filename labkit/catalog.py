"""Find and validate labs: labs/<id>/lab.yaml plus checkers/<id_with_underscores>.py."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import LabFormatError, UnknownLab
from .home import REPO_ROOT

SLUG = r"^[a-z0-9][a-z0-9-]*$"


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3)  # the imperative worklog phrase
    hints: list[str] = Field(min_length=1)  # progressive; the last one is a worked command
    points: float = Field(default=1, gt=0)
    # `setup` tasks are done by `lab start` (the worklog's "Deploy initial resources").
    kind: Literal["learner", "setup"] = "learner"
    # How the check decides, for docs/backends.md: observed behaviour, configuration
    # reads, our own evaluator (policies, alarms), or running the learner's code.
    graded_by: list[Literal["behaviour", "configuration", "evaluator", "learner-code"]] = Field(default_factory=list)
    # Backends that cannot host this task, with the reason (shown by `lab check` there).
    not_on: dict[Literal["ministack", "moto", "localstack", "external"], str] = Field(default_factory=dict)


class LabSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3)
    summary: str = Field(min_length=3)
    services: list[str] = Field(min_length=1)
    minutes: int = Field(gt=0)
    references: list[Reference] = Field(min_length=1)
    achievement: str = Field(min_length=3)  # past-tense line for the weekly worklog
    next: str | None = None  # the lab to suggest once this one is done
    tasks: list[TaskSpec] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _unique_task_ids(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        seen = set()
        for task in tasks:
            if task.id in seen:
                raise ValueError(f"task id '{task.id}' appears twice")
            seen.add(task.id)
        return tasks

    @model_validator(mode="after")
    def _has_learner_task(self):
        if not any(task.kind == "learner" for task in self.tasks):
            raise ValueError("a lab needs at least one learner task")
        return self

    @property
    def max_points(self) -> float:
        return sum(task.points for task in self.tasks)

    def task(self, task_id: str) -> TaskSpec | None:
        return next((task for task in self.tasks if task.id == task_id), None)


class Lab:
    """A validated lab: its spec, its folder and its checker module."""

    def __init__(self, spec: LabSpec, folder: Path):
        self.spec = spec
        self.folder = folder

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def checker_module_name(self) -> str:
        return "checkers." + self.id.replace("-", "_")

    @property
    def checker_path(self) -> Path:
        """checkers/<id_with_underscores>.py beside the labs/ folder that holds this lab."""
        return self.folder.parent.parent / "checkers" / (self.id.replace("-", "_") + ".py")

    def checker(self):
        """The lab's Checker object (checkers/<id>.py must define `checker`)."""
        module = _import_checker(self.checker_module_name, self.checker_path)
        checker = getattr(module, "checker", None)
        if checker is None:
            raise LabFormatError(module.__file__, "checker", "is missing: the module must define `checker = Checker(...)`")
        missing = [task.id for task in self.spec.tasks if task.id not in checker.checks]
        if missing:
            raise LabFormatError(module.__file__, "checker", f"has no check for task(s) {', '.join(missing)}")
        return checker

    @property
    def readme(self) -> Path:
        return self.folder / "README.md"


def _import_checker(name: str, path: Path):
    if not path.is_file():
        raise LabFormatError(path, "(file)", "is missing: every lab needs a checker module")
    module = sys.modules.get(name)
    if module is not None and Path(module.__file__).resolve() == path.resolve():
        return module
    if path.parent.resolve() == (REPO_ROOT / "checkers").resolve():
        return importlib.import_module(name)
    # A lab from LAB_PATH: load its checker by file, under the same package name.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def lab_dirs() -> list[Path]:
    """The built-in labs folder, plus any listed in LAB_PATH (for lab authors).

    Each LAB_PATH entry is a labs/ folder with a checkers/ folder beside it."""
    extra = [Path(p) for p in os.environ.get("LAB_PATH", "").split(os.pathsep) if p]
    return [REPO_ROOT / "labs", *extra]


def _error_field(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def load_lab(folder: Path) -> Lab:
    path = folder / "lab.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabFormatError(path, "(file)", "is missing") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(YAML syntax)"
        raise LabFormatError(path, where, f"is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except UnicodeDecodeError as exc:
        raise LabFormatError(path, "(file)", f"is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from None
    except (ValueError, RecursionError) as exc:  # a date like 2025-13-45, or nesting too deep to read
        raise LabFormatError(path, "(file)", f"could not be read ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(raw, dict):
        raise LabFormatError(path, "(top level)", "must be a mapping of fields, not " + type(raw).__name__)
    try:
        spec = LabSpec.model_validate(raw)
    except ValidationError as exc:
        # A misspelt field shows up as "unknown" plus "missing": name the typo first.
        errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        raise LabFormatError(path, _error_field(errors[0]), _describe(errors[0])) from None
    if spec.id != folder.name:
        raise LabFormatError(path, "id", f"is '{spec.id}' but the folder is named '{folder.name}'")
    return Lab(spec, folder)


def _describe(error: dict) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        level = {"tasks": TaskSpec, "references": Reference}.get(str(error["loc"][0]), LabSpec)
        known = level.model_fields if len(error["loc"]) > 1 else LabSpec.model_fields
        close = difflib.get_close_matches(str(error["loc"][-1]), list(known), n=1)
        return "is not a known field" + (f" (did you mean '{close[0]}'?)" if close else "")
    return f"is invalid: {error['msg'][0].lower()}{error['msg'][1:]}"


def lab_ids() -> list[str]:
    ids = []
    for root in lab_dirs():
        if root.is_dir():
            ids.extend(p.name for p in sorted(root.iterdir()) if (p / "lab.yaml").is_file())
    return ids


def find_folder(lab_id: str) -> Path:
    for root in lab_dirs():
        candidate = root / lab_id
        if (candidate / "lab.yaml").is_file():
            return candidate
    known = lab_ids()
    close = difflib.get_close_matches(lab_id, known, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UnknownLab(f"There is no lab called '{lab_id}'.{hint}", fix="`lab list` shows every lab")


def get(lab_id: str) -> Lab:
    return load_lab(find_folder(lab_id))


def scan() -> tuple[list[Lab], list[LabFormatError]]:
    """Every valid lab, and the problem with each invalid one (one broken lab hides no other)."""
    labs, problems = [], []
    for lab_id in lab_ids():
        try:
            labs.append(load_lab(find_folder(lab_id)))
        except LabFormatError as problem:
            problems.append(problem)
    return labs, problems


def all_labs() -> list[Lab]:
    return scan()[0]
