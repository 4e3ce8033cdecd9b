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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def validate(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="A config file, or an environment catalog file."),
    set_: list[str] = typer.Option([], "--set", help="Override a value: --set a.b[0].c=VALUE (repeatable)."),
) -> None:
    """Check a config or catalog: print "ok" and a summary, or every error (exit code 0 / 1).

    The seed's override form works too: `envsim validate CONFIG --inference_config.generation.temperature 0.5`.
    """
    from rich.text import Text

    import envsim.scenarios.attributes  # noqa: F401  (registers the attribute checks with the loader)
    from envsim.config.loader import load_config_or_catalog
    from envsim.config.overrides import split_seed_style_args
    from envsim.config.summary import build_summary, render_summary
    from envsim.errors import ConfigErrors

    try:
        loaded = load_config_or_catalog(config, [*set_, *split_seed_style_args(list(ctx.args))])
    except ConfigErrors as exc:
        count = len(exc.errors)
        err_console.print(Text(f"{count} error{'s' if count != 1 else ''} in {config}", style="bold red"))
        for error in exc.errors:
            err_console.print(Text(error.render()), soft_wrap=True)
        raise typer.Exit(1) from None
    except EnvsimError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(exc.render()), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(Text("ok", style="bold green"))
    console.print(render_summary(build_summary(loaded)))


def main() -> None:
    try:
        app()
    except EnvsimError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
