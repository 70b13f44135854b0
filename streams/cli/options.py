"""Option types that several commands share, in one place so command modules never import each other."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (env DIPWATCH_* overrides it).",
                 envvar="DIPWATCH_CONFIG", dir_okay=False),
]  # fmt: skip
