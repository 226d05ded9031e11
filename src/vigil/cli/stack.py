"""The local stack (`vigil stack up|down|status`) and the drill that breaks a service on it."""

from __future__ import annotations

from pathlib import Path

import click

from vigil.cli.common import (
    Context,
    paths,
)


@click.group()
def stack() -> None:
    """A local Prometheus + Alertmanager + demo exporter + webhook sink (state in .vigil-stack/)."""


_STATE = click.option(
    "--dir",
    "state_dir",
    type=click.Path(path_type=Path),
    default=Path(".vigil-stack"),
    show_default=True,
    help="Where the stack keeps its config, data, logs and pids.",
)


@stack.command("up")
@paths
@_STATE
@click.pass_obj
def stack_up(ctx: Context, state_dir: Path) -> None:
    """Start the stack (or report it running); print the environment to deploy to it."""
    from vigil.stack.local import up

    click.echo(up(state_dir, ctx.catalog).describe())


@stack.command("down")
@_STATE
def stack_down(state_dir: Path) -> None:
    """Stop every process the stack started."""
    from vigil.stack.local import down

    click.echo(down(state_dir))


@stack.command("status")
@_STATE
def stack_status(state_dir: Path) -> None:
    """Each component: its pid, its URL, and whether it answers."""
    from vigil.stack.local import status

    click.echo(status(state_dir))


@click.command()
@paths
@_STATE
@click.option("--service", default="checkout", show_default=True, help="The service to break.")
@click.option(
    "--fault",
    default="error_spike",
    show_default=True,
    type=click.Choice(["error_spike", "latency", "memory_leak", "dead"]),
    help="What goes wrong.",
)
@click.option(
    "--kind",
    default="threshold",
    show_default=True,
    type=click.Choice(["threshold", "trend", "slo"]),
    help="Which alert the fault should raise: the key metric's threshold or trend alert, or the SLO page.",
)
@click.option("--timeout", default=300.0, show_default=True, help="Give up after this many seconds.")
@click.pass_obj
def drill(ctx: Context, state_dir: Path, service: str, fault: str, kind: str, timeout: float) -> None:
    """Break a service on the local stack and show when each department was told (`vigil stack up` first)."""
    from vigil.stack.drill import DrillError, run_drill

    result = run_drill(state_dir, ctx.catalog, service, fault, kind=kind, timeout=timeout, echo=click.echo)
    click.echo(result.text())
    if not result.complete:
        raise DrillError(f"not every department was told within {timeout:g}s")
