"""Commands of the catalog stage: validate a catalog, discover a service from its /metrics."""

from __future__ import annotations

import click

from vigil.cli.common import (
    Context,
    paths,
    warn,
)


@click.command()
@paths
@click.pass_obj
def validate(ctx: Context) -> None:
    """Validate the catalog; exit 2 listing every problem."""
    from vigil.build import BuildReport, compile_catalog

    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    warn(report.warnings)
    postmortems = f", {len(model['postmortems'])} postmortems" if model.get("postmortems") else ""
    click.echo(f"{ctx.catalog}: valid ({len(model['services'])} services{postmortems})")


@click.command()
@paths
@click.option(
    "--metrics",
    "sources",
    multiple=True,
    required=True,
    metavar="URL_OR_FILE",
    help="A /metrics URL or a saved exposition (repeatable: an app and its sidecar exporter).",
)
@click.option("--name", default=None, help="The service name (default: from the URL's host or the file's name).")
@click.option("--owner", default=None, metavar="TEAM", help="The owning department's id.")
@click.option("--job", default=None, help="The scrape job for the selector (default: the name).")
@click.pass_obj
def discover(ctx: Context, sources: tuple[str, ...], name: str | None, owner: str | None, job: str | None) -> None:
    """Print a catalog entry for a service: the profiles and conventions its metrics match."""
    from vigil.catalog.discover import default_name
    from vigil.catalog.discover import discover as run_discover
    from vigil.catalog.exposition import read

    expositions = [read(s) for s in sources]
    catalog = ctx.catalog if ctx.catalog.is_dir() else None
    click.echo(run_discover(expositions, name or default_name(sources[0]), owner, catalog, job), nl=False)
