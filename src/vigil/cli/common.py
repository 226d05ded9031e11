"""What the commands share: the context, the options several take, and small helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


class Context:
    def __init__(self, catalog: Path, out: Path):
        self.catalog = catalog
        self.out = out


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


def warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def parse_window(from_: str, to: str) -> Any:
    """--from/--to (RFC 3339 or relative) as a backtest window; a usage error when unreadable."""
    from vigil.backtest.evaluate import Window
    from vigil.backtest.timespec import parse_time

    try:
        return Window(parse_time(from_), parse_time(to))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def model_at(catalog: Path, rev: str) -> Any:
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


def validated_model(ctx: Context) -> Any:
    from vigil.build import BuildReport, compile_catalog

    return compile_catalog(ctx.catalog, BuildReport())[1]


def note(text: str) -> None:
    click.echo(text, err=True)
