"""Commands of the deploy stage: diff and deploy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vigil.cli.common import (
    Context,
    paths,
)


def _deploy_options(
    ctx: Context,
    from_dir: Path | None,
    only: tuple[str, ...],
    prune: bool,
    dry_run: bool,
    no_unit_tests: bool,
    verbose: bool,
    workers: int | None = None,
    fresh: bool = False,
) -> Any:
    from vigil.deploy.http import HttpSettings
    from vigil.deploy.run import Options

    http = HttpSettings() if workers is None else HttpSettings(workers=workers)
    return Options(
        catalog=ctx.catalog,
        from_dir=from_dir,
        out=ctx.out,
        fresh=fresh,
        only=only,
        prune=prune,
        dry_run=dry_run,
        unit_tests=not no_unit_tests,
        verbose=verbose,
        progress=True,
        http=http,
    )


_ONLY = click.Choice(["prometheus", "alertmanager", "grafana"])


def _target_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options diff and deploy share: where the build comes from, which targets, how much to say."""
    for option in reversed(
        [
            click.option(
                "--from",
                "from_dir",
                type=click.Path(path_type=Path),
                default=None,
                help="Use an already built directory (re-checked) instead of --out.",
            ),
            click.option(
                "--build",
                "fresh",
                is_flag=True,
                help="Push the catalog built and checked afresh instead of the reviewed --out.",
            ),
            click.option("--only", multiple=True, type=_ONLY, help="Only this target (repeatable)."),
            click.option("--no-unit-tests", is_flag=True, help="Skip the generated promtool unit tests (CI ran them)."),
            click.option(
                "-v", "--verbose", is_flag=True, help="Show a unified diff of each changed object (never secrets)."
            ),
        ]
    ):
        f = option(f)
    return f


@click.command()
@paths
@_target_options
@click.option("--prune", is_flag=True, help="Show what deploy --prune would remove.")
@click.pass_obj
def diff(
    ctx: Context,
    from_dir: Path | None,
    fresh: bool,
    only: tuple[str, ...],
    prune: bool,
    no_unit_tests: bool,
    verbose: bool,
) -> None:
    """What deploy would change, per target: added (+), changed (~), removed (-)."""
    from vigil.deploy.run import diff as run_diff

    report = run_diff(_deploy_options(ctx, from_dir, only, prune, False, no_unit_tests, verbose, fresh=fresh))
    click.echo(report.text())


@click.command()
@paths
@_target_options
@click.option("--prune", is_flag=True, help="Also remove what vigil owns and the build no longer has.")
@click.option("--dry-run", is_flag=True, help="Build, check and plan; push nothing.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests in flight to one Grafana or Mimir at most.",
)
@click.pass_obj
def deploy(
    ctx: Context,
    from_dir: Path | None,
    fresh: bool,
    only: tuple[str, ...],
    prune: bool,
    dry_run: bool,
    no_unit_tests: bool,
    verbose: bool,
    workers: int,
) -> None:
    """Check --out (when it is what the catalog builds to), then push it to the targets configured
    in the environment (docs/deploy.md)."""
    from vigil.deploy.run import deploy as run_deploy
    from vigil.errors import DeployError

    report = run_deploy(_deploy_options(ctx, from_dir, only, prune, dry_run, no_unit_tests, verbose, workers, fresh))
    click.echo(report.text())
    if report.failed:
        raise DeployError("deploy failed; see the report above")
