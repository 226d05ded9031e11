"""Commands of the render and check stages: build output/, check it, print the routing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vigil.cli.common import (
    Context,
    cache_options,
    paths,
    warn,
)


@click.command()
@paths
@click.option(
    "--test",
    "run_tests",
    is_flag=True,
    help="Also run the generated promtool unit tests before writing (as `vigil check` does).",
)
@click.option("--no-check", is_flag=True, help="Skip every check (faster, unsafe; for benchmarks).")
@click.option(
    "--frozen",
    is_flag=True,
    help="Write nothing; exit 1 naming every file of the output directory that is stale (CI's check "
    "that the committed output/ is what the catalog builds to).",
)
@cache_options("Content-hash cache for incremental builds.", "Render everything from scratch.")
@click.pass_obj
def build(ctx: Context, run_tests: bool, no_check: bool, frozen: bool, cache: Path, no_cache: bool) -> None:
    """Validate, render and check, then write the output directory (only if every check passed)."""
    from vigil.build import build as run_build

    if frozen:
        from vigil.build import stale_files

        stale = stale_files(ctx.catalog, ctx.out, None if no_cache else cache)
        if stale:
            click.echo(f"{ctx.out} is stale: {len(stale)} file(s) differ from what {ctx.catalog} builds to:", err=True)
            for rel in stale:
                click.echo(f"  {rel}", err=True)
            click.echo("run `vigil build` and commit the result", err=True)
            sys.exit(1)
        click.echo(f"{ctx.out} is what {ctx.catalog} builds to")
        return
    report = run_build(
        ctx.catalog, ctx.out, run_checks=not no_check, run_tests=run_tests, cache_dir=None if no_cache else cache
    )
    warn(report.warnings)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items())
    click.echo(f"wrote {report.files} files to {ctx.out} ({stages})")
    if report.check:
        from vigil.check import describe

        for line in describe(report.check):
            click.echo(f"  checked {line}")


@click.command()
@paths
@cache_options("Remember passed unit tests by content; re-run only what changed.", "Run every unit test.")
@click.option(
    "--engine",
    "engines",
    type=click.Choice(["promtool", "vmalert"]),
    multiple=True,
    default=["promtool"],
    show_default=True,
    help="vmalert: also `vmalert -dryRun` and `vmalert-tool unittest` (VictoriaMetrics).",
)
@click.pass_obj
def check(ctx: Context, cache: Path, no_cache: bool, engines: tuple[str, ...]) -> None:
    """Run every check on an existing output directory."""
    from vigil.check import check_output, describe

    report = check_output(ctx.out, cache_dir=None if no_cache else cache, vmalert="vmalert" in engines)
    warn(report.warnings)
    for line in describe(report):
        click.echo(f"ok {line}")


@click.command()
@paths
@click.option("--markdown", is_flag=True, help="A Markdown table, e.g. for a pull-request comment.")
@click.pass_obj
def routes(ctx: Context, markdown: bool) -> None:
    """Who is told about what: service × severity → department/channel, and the hours it applies."""
    from vigil.reports.routes import routes_table

    click.echo(routes_table(ctx.catalog, markdown=markdown), nl=False)
