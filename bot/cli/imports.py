"""`phonebank import` commands: voters, do-not-call, volunteers."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
