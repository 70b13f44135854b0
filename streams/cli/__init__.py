"""The `dipwatch` command: parse, build, delegate; errors become one line and an exit code."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from streams import __version__
from streams.cli import demo, live, offline, ops, report

app = typer.Typer(
    name="dipwatch",
    help="Tell transient glitches from sustained drops in social-media counts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"dipwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each choice made.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


offline.register(app)
demo.register(app)
live.register(app)
ops.register(app)
report.register(app)

__all__ = ["app"]
