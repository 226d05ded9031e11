"""The incident loop: search the postmortems, draft one, learn from one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vigil.cli.common import (
    Context,
    note,
    parse_window,
    paths,
    prometheus_option,
    validated_model,
)


@click.group()
def postmortems() -> None:
    """Search the postmortems beside the catalog, and their detection and recovery times."""


def _since(_ctx: click.Context, _param: Any, value: str | None) -> Any:
    from vigil.reports.postmortems import parse_since

    try:
        return None if value is None else parse_since(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@postmortems.command("search")
@paths
@click.argument("text", nargs=-1)
@click.option("--service", help="Only incidents of this service.")
@click.option("--department", help="Only incidents owned by, or told to, this department.")
@click.option("--metric", help="Only incidents where this key metric (id, or service:id) was anomalous.")
@click.option("--dependency", help="Only incidents that involved this middleware (a catalog service).")
@click.option("--since", callback=_since, help="Only incidents that began at or after: RFC 3339, a date, or -30d.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of the matching postmortems' front matter.")
@click.pass_obj
def postmortems_search(
    ctx: Context,
    text: tuple[str, ...],
    service: str | None,
    department: str | None,
    metric: str | None,
    dependency: str | None,
    since: Any,
    as_json: bool,
) -> None:
    """Postmortems whose text has every word of TEXT and that match every filter, newest first."""
    import json

    from vigil.reports.postmortems import Query, format_results, search, summary, unknown_names

    model, query = validated_model(ctx), Query(" ".join(text), service, department, metric, dependency, since)
    unknown = unknown_names(model, query)
    if unknown:
        raise click.UsageError("; ".join(unknown))
    found = search(model, query)
    if as_json:
        click.echo(json.dumps([summary(pm) for pm in found], indent=2, sort_keys=True))
        return
    for line in format_results(found):
        click.echo(line)
    click.echo(f"{len(found)} postmortem(s)", err=True)


@postmortems.command("stats")
@paths
@click.option("--since", callback=_since, help="Only incidents that began at or after: RFC 3339, a date, or -30d.")
@click.option("--json", "as_json", is_flag=True, help="Per service, per department and in total, as JSON.")
@click.pass_obj
def postmortems_stats(ctx: Context, since: Any, as_json: bool) -> None:
    """Per service and owner department: incidents, median time to detect and to recover, customer-first count."""
    import json

    from vigil.reports.postmortems import Query, format_stats, search, stats

    report = stats(search(validated_model(ctx), Query(since=since)))
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif report["total"] is None:
        click.echo("no postmortems", err=True)
    else:
        for line in format_stats(report):
            click.echo(line)


@click.group()
def postmortem() -> None:
    """One postmortem: draft it from the stack, or learn from it (`postmortems`, plural, searches the collection)."""


@postmortem.command("draft")
@paths
@click.option("--service", required=True, help="The catalog service where the incident showed.")
@click.option("--from", "from_", required=True, help="Start: RFC 3339 (2026-11-27T03:00:00Z), now, or -2h.")
@click.option("--to", "to", default="now", show_default=True, help="End: RFC 3339, now, or -1h.")
@prometheus_option("The Prometheus holding the window")
@click.option(
    "--alertmanager",
    "alertmanager_url",
    envvar="ALERTMANAGER_URL",
    default=None,
    help="Read who was told from this Alertmanager where it still holds the alerts (default: $ALERTMANAGER_URL).",
)
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=None,
    help="The folder to write into (default: the catalog's postmortems folder).",
)
@click.option("--force", is_flag=True, help="Overwrite a draft of the same name instead of numbering a new one.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON instead of writing the file.")
@click.pass_obj
def postmortem_draft(
    ctx: Context,
    service: str,
    from_: str,
    to: str,
    prometheus_url: str,
    alertmanager_url: str | None,
    dest: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Draft a postmortem of SERVICE's incident in the window, from Prometheus (and Alertmanager)."""
    import json

    from vigil.catalog.load import load_catalog, postmortems_dir
    from vigil.reports.postmortem_draft import gather
    from vigil.reports.postmortem_markdown import summary, write

    window = parse_window(from_, to)
    model = validated_model(ctx)
    draft = gather(model, service, window.start, window.end, prometheus_url, alertmanager_url, progress=note)
    if as_json:
        click.echo(json.dumps(draft.json(), indent=2, sort_keys=True))
        return
    folder = dest or postmortems_dir(ctx.catalog, load_catalog(ctx.catalog).settings)
    click.echo(summary(draft, write(draft, folder, force)))


@postmortem.command("suggest")
@paths
@click.argument("ref", metavar="POSTMORTEM")
@prometheus_option("The Prometheus holding the incident's history")
@click.option("--lookback", default="7d", show_default=True, help="How much history each proposal is backtested over.")
@click.option(
    "--to", default=None, help="End of the look-back: RFC 3339, relative or now (default: the incident's end)."
)
@click.option("--json", "as_json", is_flag=True, help="The postmortem, the window, the suggestions and notes, as JSON.")
@click.pass_obj
def postmortem_suggest(
    ctx: Context, ref: str, prometheus_url: str, lookback: str, to: str | None, as_json: bool
) -> None:
    """Threshold and `for` changes that would have detected POSTMORTEM (an id or its file) earlier.

    Each is backtested over --lookback (how much earlier; how many more firings) and printed as
    YAML to paste into the service file, with `because:` set. The catalog is never written."""
    import json

    from vigil.backtest.client import BacktestAPI
    from vigil.backtest.timespec import parse_time
    from vigil.build import BuildReport, compile_catalog
    from vigil.render.cache import Cache
    from vigil.reports import postmortem_suggest as pms
    from vigil.reports import postmortem_suggest_format
    from vigil.units import parse_duration

    validated, model = compile_catalog(ctx.catalog, BuildReport())
    try:
        pm = pms.find(model, ref)
        window = pms.lookback(pm, parse_duration(lookback), None if to is None else parse_time(to))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    api = BacktestAPI(prometheus_url)
    report = pms.suggest(model, pms.overrides_of(validated.raw.services), pm, api, window, Cache(Path(".vigil-cache")))
    if as_json:
        click.echo(json.dumps(report.json(), indent=2, sort_keys=True))
    else:
        click.echo(postmortem_suggest_format.text(report), nl=False)
