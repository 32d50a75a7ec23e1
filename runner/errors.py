"""Every user-facing failure of assess, and the exit codes in one table.

    AssessError                  base: a one-line message and an exit code
    ├── UsageError (2)           bad input: unknown challenge, missing path, invalid config
    │   ├── ChallengeError       a challenge directory or challenge.toml is invalid
    │   └── SubmissionError      a submission is neither a Dockerfile nor a valid assess.toml
    ├── InfraError (3)           Docker engine missing/unreachable, image build of ours failed
    └── Interrupted (130)        Ctrl-C / SIGTERM, raised after cleanup

A candidate's failures (build failed, not ready, crashed) are verdicts in the results, not
errors: the run itself succeeded at grading them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``assess`` command (documented in the README)."""

    OK = 0  # graded (whatever the verdict), or the command succeeded
    BELOW_THRESHOLD = 1  # score below --fail-under, or a verify/self-test mismatch
    USAGE = 2  # bad input
    INFRA = 3  # sandbox or infrastructure error
    INTERRUPTED = 130  # Ctrl-C, after cleanup


class AssessError(Exception):
    exit_code: ExitCode = ExitCode.INFRA

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(AssessError):
    exit_code = ExitCode.USAGE


class ChallengeError(UsageError):
    pass


class SubmissionError(UsageError):
    pass


class InfraError(AssessError):
    exit_code = ExitCode.INFRA


class Interrupted(AssessError):
    exit_code = ExitCode.INTERRUPTED

    def __init__(
        self, message: str = "interrupted; everything the run created was removed"
    ) -> None:
        super().__init__(message)
