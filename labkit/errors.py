"""Expected failures, each carrying the exit code the CLI contract documents.

The CLI prints ``str(error)`` as one sentence (plus the command that fixes it)
and exits with ``error.exit_code``; it never shows a traceback for these.
"""

EXIT_OK = 0
EXIT_TASKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_EMULATOR = 3


class LabError(Exception):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} Fix: {self.fix}"


class BadInput(LabError):
    """Usage errors: unknown lab, unknown task, malformed lab.yaml, bad flags."""


class UnknownLab(BadInput):
    pass


class LabFormatError(BadInput):
    def __init__(self, path, field: str, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{path}: field '{field}' {problem}.")


class EmulatorError(LabError):
    """The emulator cannot be reached, started or stopped."""

    exit_code = EXIT_EMULATOR


class UnsafeEndpoint(BadInput):
    """A request would leave this machine without the user asking for it."""
