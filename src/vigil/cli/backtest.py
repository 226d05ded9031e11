"""Commands that learn from history: backtest the alerts, suggest thresholds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vigil.cli.common import (
    Context,
    model_at,
    parse_window,
    paths,
    prometheus_option,
    warn,
)


@click.command()
@paths
@prometheus_option("The Prometheus holding the history")
@click.option("--from", "from_", required=True, help="Start: RFC 3339 (2026-11-27T03:00:00Z), now, or -7d.")
@click.option("--to", "to", default="now", show_default=True, help="End: RFC 3339, now, or -1h.")
@click.option("--service", "services", multiple=True, help="Only this service (repeatable; default: all).")
@click.option("--base", help="Also backtest the catalog at this git revision, side by side (e.g. main).")
@click.option(
    "--json", "as_json", is_flag=True, help="A JSON list: service, alert, severity, firings, firing_seconds, ..."
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Alerts evaluated together in one range query.",
)
@click.option(
    "--max-points",
    type=click.IntRange(2, 11000),
    default=11000,
    show_default=True,
    help="Steps per series per range query at most (Prometheus refuses more than 11,000).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Range queries in flight at once (Prometheus evaluates concurrent queries on several cores).",
)
@click.pass_obj
def backtest(
    ctx: Context,
    prometheus_url: str,
    from_: str,
    to: str,
    services: tuple[str, ...],
    base: str | None,
    as_json: bool,
    batch: int,
    max_points: int,
    parallel: int,
) -> None:
    """How often each alert would have fired over a window of history, evaluated from raw series.

    Every recording rule an alert reads is replaced by its expression (a range over one becomes a
    subquery at its group's interval), so history from before the rules were deployed works. That
    costs Prometheus more than reading recorded series: a 7d anomaly baseline is a [7d:1m]
    subquery at every step. Each alert is evaluated at its group's interval, aligned to the epoch,
    with its `for` and `keep_firing_for`; a record of the slower baseline group (5m) is evaluated at
    that group's steps and its latest value read, as the live alert reads it. See docs/backtest.md.
    """
    import json
    import sys

    from vigil.backtest.client import BacktestAPI
    from vigil.backtest.run import backtest_model, backtest_models
    from vigil.build import BuildReport, compile_catalog
    from vigil.render.cache import Cache

    window = parse_window(from_, to)
    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    warn(report.warnings)
    bars: list[Any] = []

    def start_progress(total: int) -> Callable[[int], None]:
        if not sys.stderr.isatty():
            return lambda n: None
        bar = click.progressbar(length=total, label="range queries", file=sys.stderr)
        bars.append(bar.__enter__())
        return bar.update

    options: dict[str, Any] = {
        "cache": Cache(Path(".vigil-cache")),
        "batch": batch,
        "max_points": max_points,
        "workers": parallel,
        "start_progress": start_progress,
    }
    try:
        if base:
            result = backtest_models(
                model, model_at(ctx.catalog, base), BacktestAPI(prometheus_url), window, services, **options
            )
        else:
            result = backtest_model(model, BacktestAPI(prometheus_url), window, services, **options)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    warn(result.notes)
    if as_json:
        click.echo(json.dumps(result.json(), indent=2, sort_keys=True))
    else:
        click.echo(result.text(), nl=False)


@click.group()
def suggest() -> None:
    """Proposals learned from a service's history, printed as catalog YAML to paste."""


@suggest.command("thresholds")
@paths
@click.option("--service", required=True, help="The catalog service whose key metrics to learn.")
@prometheus_option("The Prometheus holding the history")
@click.option("--from", "from_", required=True, help="Start of a normal stretch: RFC 3339, now, or -7d.")
@click.option("--to", "to", default="now", show_default=True, help="End: RFC 3339, now, or -1h.")
@click.option("--json", "as_json", is_flag=True, help="Each key metric's statistics and proposal as JSON.")
@click.pass_obj
def suggest_thresholds(ctx: Context, service: str, prometheus_url: str, from_: str, to: str, as_json: bool) -> None:
    """Propose warning, critical, `for`, keep_firing_for and anomaly sensitivity for each key metric.

    Learned from the metric's own values over --from..--to (robust statistics on its bad side);
    prints the `metrics:` YAML to paste into the service file. See docs/detection.md.
    """
    import json

    from vigil.backtest.client import BacktestAPI
    from vigil.build import BuildReport, compile_catalog
    from vigil.reports.suggest_thresholds import suggest_service, to_yaml

    window = parse_window(from_, to)
    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    warn(report.warnings)
    api = BacktestAPI(prometheus_url)
    found = suggest_service(model, service, api, window.start, window.end)
    if as_json:
        click.echo(json.dumps([s.json() for s in found], indent=2, sort_keys=True))
    else:
        click.echo(to_yaml(service, api.url, window.start, window.end, found), nl=False)
