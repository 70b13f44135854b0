"""The CLI's edge: a DipwatchError or an OS error is one line on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from streams.errors import DipwatchError

stderr = Console(stderr=True, highlight=False)


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except DipwatchError as error:
        stderr.print(f"[bold red]dipwatch:[/] {error}", soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        stderr.print(f"[bold red]dipwatch:[/]{where} {error.strerror or error}", soft_wrap=True)
        raise typer.Exit(2) from None
