"""Every error a user can act on, and the exit code it maps to.

The CLI turns these into a message and an exit code in one place (cli.main); nothing else
prints tracebacks at the user.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, pointing at the file and line that caused it."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class VigilError(Exception):
    """Base class; `exit_code` is what the process exits with."""

    exit_code = 1


class CatalogError(VigilError):
    """The catalog is invalid. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class RenderError(VigilError):
    """A generator failed: a bug in vigil or a profile, not in the user's catalog."""

    exit_code = 3


class CheckError(VigilError):
    """A generated artefact failed a check (promtool, amtool, dashboard lint)."""

    exit_code = 4


class ToolMissingError(VigilError):
    """A required external binary (promtool, amtool) is not installed."""

    exit_code = 5


class DeployError(VigilError):
    """A push to the monitoring stack failed (and was rolled back where possible)."""

    exit_code = 6


class BacktestDataError(VigilError):
    """Labelled windows, scoring profiles or a detector's results could not be read."""

    exit_code = 7


class RevisionError(VigilError):
    """A git revision could not be read (unknown REV, not a git repository): `vigil review`."""

    exit_code = 8


class NoDataError(VigilError):
    """A key metric or SLI returns no data in the Prometheus asked (`vigil coverage`): it detects nothing."""

    exit_code = 1


class StaleOutputError(VigilError):
    """The output directory is not what the catalog builds to: deploy and diff refuse to push it."""

    exit_code = 9


class DiscoverError(VigilError):
    """`vigil discover` cannot read or understand an exporter's metrics (URL down, not an exposition)."""

    exit_code = 10  # 7 to 9 are taken (backtest, review, stack, stale output)


class BacktestError(VigilError):
    """An alert could not be backtested: its expression cannot be expanded, or Prometheus refused the query."""

    exit_code = 11
