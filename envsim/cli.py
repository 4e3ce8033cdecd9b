"""The `envsim` command: a thin typer app. Parse, call the API, print with rich.

Each command lives in this file as one small function; the work happens in the library.
User errors (EnvsimError) print as one short paragraph and exit 1; tracebacks are for bugs.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from envsim.errors import EnvsimError

app = typer.Typer(
    name="envsim",
    help="Simulate multi-turn, tool-using conversations; record, replay, evaluate and export them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the envsim version."""
    from envsim import __version__

    console.print(__version__)


def main() -> None:
    try:
        app()
    except EnvsimError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
