"""The command line. Thin on purpose: parse arguments, call one function, print its report.

Every VigilError becomes a message on stderr and its exit code here, in one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vigil.cli import backtest, build, catalog, deploy, postmortems, review, stack
from vigil.cli.common import Context
from vigil.errors import CatalogError, VigilError


@click.group()
@click.option(
    "--catalog",
    type=click.Path(path_type=Path),
    default=Path("catalog"),
    show_default=True,
    help="The catalog directory.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("output"), show_default=True, help="The output directory."
)
@click.pass_context
def cli(ctx: click.Context, catalog: Path, out: Path) -> None:
    """vigil: service monitoring as code."""
    ctx.obj = Context(catalog, out)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="vigil", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except CatalogError as e:
        click.echo(str(e), err=True)
        click.echo(f"{len(e.problems)} problem(s) found; nothing was written.", err=True)
        sys.exit(e.exit_code)
    except VigilError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)


# One module per stage (the tree is the pipeline); each command is registered here, once.
for command in (
    catalog.validate,
    catalog.discover,
    build.build,
    build.check,
    build.routes,
    review.review,
    review.preview,
    review.coverage,
    deploy.diff,
    deploy.deploy,
    stack.stack,
    stack.drill,
    backtest.backtest,
    backtest.suggest,
    postmortems.postmortems,
    postmortems.postmortem,
):
    cli.add_command(command)
