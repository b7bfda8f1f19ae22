"""`phonebank init` and `phonebank campaign` commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


def register_root_commands(root: typer.Typer) -> None:
    """Top-level commands of this module (`phonebank init`)."""
