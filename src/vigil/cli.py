"""The command line. Thin on purpose: parse arguments, call one function, print its report.

Every VigilError becomes a message on stderr and its exit code here, in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from vigil.errors import CatalogError, VigilError


class Context:
    def __init__(self, catalog: Path, out: Path):
        self.catalog = catalog
        self.out = out


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


def paths(f: Callable[..., Any]) -> Callable[..., Any]:
    """--catalog/--out also after the command name (`vigil build --catalog X`), as DESIGN.md shows."""

    def set_catalog(ctx: click.Context, _: Any, value: Path | None) -> None:
        if value is not None:
            ctx.find_object(Context).catalog = value  # type: ignore[union-attr]

    def set_out(ctx: click.Context, _: Any, value: Path | None) -> None:
        if value is not None:
            ctx.find_object(Context).out = value  # type: ignore[union-attr]

    f = click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=None,
        expose_value=False,
        callback=set_out,
        help="The output directory.",
    )(f)
    return click.option(
        "--catalog",
        type=click.Path(path_type=Path),
        default=None,
        expose_value=False,
        callback=set_catalog,
        help="The catalog directory.",
    )(f)


def prometheus_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The required --prometheus URL (or $PROMETHEUS_URL) of the commands that query one."""
    return click.option(
        "--prometheus",
        "prometheus_url",
        envvar="PROMETHEUS_URL",
        required=True,
        help=f"{what} (default: $PROMETHEUS_URL).",
    )


def cache_options(cache_help: str, no_cache_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--cache DIR (default .vigil-cache) and --no-cache, as every command with a cache takes them."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--no-cache", is_flag=True, help=no_cache_help)(f)
        return click.option(
            "--cache", type=click.Path(path_type=Path), default=Path(".vigil-cache"), show_default=True, help=cache_help
        )(f)

    return decorate


def _warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


@cli.command()
@paths
@click.pass_obj
def validate(ctx: Context) -> None:
    """Validate the catalog; exit 2 listing every problem."""
    from vigil.build import BuildReport, compile_catalog

    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    _warn(report.warnings)
    postmortems = f", {len(model['postmortems'])} postmortems" if model.get("postmortems") else ""
    click.echo(f"{ctx.catalog}: valid ({len(model['services'])} services{postmortems})")


@cli.command()
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
    _warn(report.warnings)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in report.seconds.items())
    click.echo(f"wrote {report.files} files to {ctx.out} ({stages})")
    if report.check:
        from vigil.check import describe

        for line in describe(report.check):
            click.echo(f"  checked {line}")


@cli.command()
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
    _warn(report.warnings)
    for line in describe(report):
        click.echo(f"ok {line}")


@cli.command()
@paths
@click.option("--markdown", is_flag=True, help="A Markdown table, e.g. for a pull-request comment.")
@click.pass_obj
def routes(ctx: Context, markdown: bool) -> None:
    """Who is told about what: service × severity → department/channel, and the hours it applies."""
    from vigil.reports.routes import routes_table

    click.echo(routes_table(ctx.catalog, markdown=markdown), nl=False)


@cli.command()
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
    _warn(result.warnings)
    if backtest:
        from vigil.backtest.client import BacktestAPI
        from vigil.render.cache import Cache
        from vigil.reports.review_backtest import add_backtest

        if not prometheus_url:
            raise click.UsageError("--backtest needs --prometheus URL (or $PROMETHEUS_URL)")
        window = _window(from_, to)
        _warn(add_backtest(result, BacktestAPI(prometheus_url), window, cache=Cache(None if no_cache else cache)))
    formatter = {"markdown": review_format.markdown, "json": review_format.as_json}.get(fmt or "", review_format.text)
    click.echo(formatter(result), nl=False)
    if exit_code and result.changes:
        sys.exit(1)


@cli.command()
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
        _warn([f"{shot.uid} panel {p.id} ({p.title}): {p.error}" for p in shot.panels if p.error])


@cli.command()
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
    from vigil.errors import NoDataError
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


@cli.command()
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


@cli.command()
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


@cli.group()
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


@cli.command()
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


@cli.command()
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

    window = _window(from_, to)
    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    _warn(report.warnings)
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
                model, _model_at(ctx.catalog, base), BacktestAPI(prometheus_url), window, services, **options
            )
        else:
            result = backtest_model(model, BacktestAPI(prometheus_url), window, services, **options)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    _warn(result.notes)
    if as_json:
        click.echo(json.dumps(result.json(), indent=2, sort_keys=True))
    else:
        click.echo(result.text(), nl=False)


def _window(from_: str, to: str) -> Any:
    """--from/--to (RFC 3339 or relative) as a backtest window; a usage error when unreadable."""
    from vigil.backtest.evaluate import Window
    from vigil.backtest.timespec import parse_time

    try:
        return Window(parse_time(from_), parse_time(to))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _model_at(catalog: Path, rev: str) -> Any:
    """The resolved model of the catalog at git revision `rev` (no services if it had none)."""
    import tempfile

    from vigil.build import BuildReport, compile_catalog
    from vigil.reports import catalog_at_revision

    revision = catalog_at_revision.resolve(catalog, rev)
    with tempfile.TemporaryDirectory(prefix="vigil-backtest-") as tmp:
        old_dir = catalog_at_revision.extract(catalog, revision, Path(tmp))
        if old_dir is None:
            return {**compile_catalog(catalog, BuildReport())[1], "services": []}
        return compile_catalog(old_dir, BuildReport())[1]


@cli.group()
def postmortems() -> None:
    """Search the postmortems beside the catalog, and their detection and recovery times."""


def _since(_ctx: click.Context, _param: Any, value: str | None) -> Any:
    from vigil.reports.postmortems import parse_since

    try:
        return None if value is None else parse_since(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _validated_model(ctx: Context) -> Any:
    from vigil.build import BuildReport, compile_catalog

    return compile_catalog(ctx.catalog, BuildReport())[1]


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

    model, query = _validated_model(ctx), Query(" ".join(text), service, department, metric, dependency, since)
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

    report = stats(search(_validated_model(ctx), Query(since=since)))
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif report["total"] is None:
        click.echo("no postmortems", err=True)
    else:
        for line in format_stats(report):
            click.echo(line)


@cli.command()
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


@cli.group()
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
    """Propose warning, critical, `for` and anomaly sensitivity for each key metric of a service.

    Learned from the metric's own values over --from..--to (robust statistics on its bad side);
    prints the `metrics:` YAML to paste into the service file. See docs/detection.md.
    """
    import json

    from vigil.backtest.client import BacktestAPI
    from vigil.build import BuildReport, compile_catalog
    from vigil.reports.suggest_thresholds import suggest_service, to_yaml

    window = _window(from_, to)
    report = BuildReport()
    _, model = compile_catalog(ctx.catalog, report)
    _warn(report.warnings)
    api = BacktestAPI(prometheus_url)
    found = suggest_service(model, service, api, window.start, window.end)
    if as_json:
        click.echo(json.dumps([s.json() for s in found], indent=2, sort_keys=True))
    else:
        click.echo(to_yaml(service, api.url, window.start, window.end, found), nl=False)


@cli.group()
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

    window = _window(from_, to)
    model = _validated_model(ctx)
    draft = gather(model, service, window.start, window.end, prometheus_url, alertmanager_url, progress=_note)
    if as_json:
        click.echo(json.dumps(draft.json(), indent=2, sort_keys=True))
        return
    folder = dest or postmortems_dir(ctx.catalog, load_catalog(ctx.catalog).settings)
    click.echo(summary(draft, write(draft, folder, force)))


def _note(text: str) -> None:
    click.echo(text, err=True)


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
