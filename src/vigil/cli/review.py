"""Commands that report on a change or a running stack: review, preview, coverage."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vigil.cli.common import (
    Context,
    cache_options,
    parse_window,
    paths,
    prometheus_option,
    warn,
)
from vigil.errors import NoDataError


@click.command()
@paths
@click.option("--base", required=True, help="The git revision to compare with: main, HEAD~1, a sha.")
@click.option("--markdown", "fmt", flag_value="markdown", help="A pull-request comment.")
@click.option("--json", "fmt", flag_value="json", help="A sorted list of change records, for scripts.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are changes, 0 when there are none (as git diff).")
@cache_options(
    "vigil build's render cache: what was rendered before is not rendered again.", "Render both catalogs from scratch."
)
@click.option("--backtest", is_flag=True, help="Also backtest each changed or added alert (vigil backtest --base).")
@click.option(
    "--prometheus", "prometheus_url", envvar="PROMETHEUS_URL", help="For --backtest: the history's Prometheus."
)
@click.option("--from", "from_", default="-7d", show_default=True, help="For --backtest: RFC 3339, or relative (-7d).")
@click.option("--to", default="now", show_default=True, help="For --backtest: RFC 3339, relative, or now.")
@click.pass_obj
def review(
    ctx: Context,
    base: str,
    fmt: str | None,
    exit_code: bool,
    cache: Path,
    no_cache: bool,
    backtest: bool,
    prometheus_url: str | None,
    from_: str,
    to: str,
) -> None:
    """The semantic change from the catalog at git revision BASE: alerts, routing, SLOs, dashboards.

    With --backtest, each changed or added alert is also evaluated over a window of history in a
    Prometheus (as `vigil backtest --base` does), beside the base catalog's alert."""
    from vigil.reports import review_format
    from vigil.reports.review import review as run_review

    result = run_review(ctx.catalog, base, cache_dir=None if no_cache else cache)
    warn(result.warnings)
    if backtest:
        from vigil.backtest.client import BacktestAPI
        from vigil.render.cache import Cache
        from vigil.reports.review_backtest import add_backtest

        if not prometheus_url:
            raise click.UsageError("--backtest needs --prometheus URL (or $PROMETHEUS_URL)")
        window = parse_window(from_, to)
        warn(add_backtest(result, BacktestAPI(prometheus_url), window, cache=Cache(None if no_cache else cache)))
    formatter = {"markdown": review_format.markdown, "json": review_format.as_json}.get(fmt or "", review_format.text)
    click.echo(formatter(result), nl=False)
    if exit_code and result.changes:
        sys.exit(1)


@click.command()
@paths
@prometheus_option("The Prometheus to query")
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=Path("preview"),
    show_default=True,
    help="Where the PNGs go, one per dashboard: <uid>.png.",
)
@click.option("--dashboard", "uids", multiple=True, help="A dashboard uid to draw (repeatable; default: all).")
@click.option("--range", "time_range", default="1h", show_default=True, help="How far back from now: 30m, 6h, 1d.")
@click.pass_obj
def preview(ctx: Context, prometheus_url: str, dest: Path, uids: tuple[str, ...], time_range: str) -> None:
    """Draw the generated dashboards to PNG from a live Prometheus, without a Grafana."""
    from vigil.reports.preview import preview as draw
    from vigil.units import parse_duration

    for shot in draw(ctx.out, prometheus_url, dest, uids=uids, range_seconds=parse_duration(time_range)):
        click.echo(f"{shot.path}: {len(shot.panels)} panels, {sum(p.series for p in shot.panels)} series")
        warn([f"{shot.uid} panel {p.id} ({p.title}): {p.error}" for p in shot.panels if p.error])


@click.command()
@paths
@prometheus_option("The Prometheus (or compatible API) to ask")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON list of {service, key_metric, kind, has_data, missing, expressions, selectors}.",
)
@click.option("--service", "services", multiple=True, help="Only this service (repeatable; default: all).")
@click.pass_obj
def coverage(ctx: Context, prometheus_url: str, as_json: bool, services: tuple[str, ...]) -> None:
    """Which key metrics and SLIs have data in a Prometheus now; for those without, which raw
    series is missing. A key metric without data looks green and detects nothing.

    Run it in CI against staging, and after onboarding a service. Exit 1 when any key metric or
    SLI has no data, 0 when all have; 2 on catalog errors.
    """
    import difflib

    from vigil.build import BuildReport, compile_catalog
    from vigil.reports.coverage import coverage as run_coverage

    _, model = compile_catalog(ctx.catalog, BuildReport())
    known = sorted(s["name"] for s in model["services"])
    for name in services:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise click.BadParameter(
                f"no service {name!r} in {ctx.catalog}" + (f"; did you mean {close[0]!r}?" if close else ""),
                param_hint="--service",
            )
    report = run_coverage(model, prometheus_url, list(services) or None)
    click.echo(report.json() if as_json else report.text(), nl=False)
    if report.without_data:
        raise NoDataError(f"{len(report.without_data)} of {len(report.rows)} key metrics and SLIs have no data")
