"""The `envsim` command: a thin typer app. Parse, call the API, print with rich.

Each command lives in this file as one small function; the work happens in the library.
User errors (EnvsimError) print as one short paragraph and exit 1; tracebacks are for bugs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from envsim.errors import EnvsimError
from envsim.event_loop import run_async

if TYPE_CHECKING:
    from envsim.scenarios.evaluation import Evaluation

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


def _print_user_error(exc: EnvsimError) -> NoReturn:
    """Print a user error as one short paragraph (no markup parsing of the message) and exit 1."""
    from rich.text import Text

    err_console.print(Text("error: ", style="bold red") + Text(exc.render()), soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def status(run_dir: str = typer.Argument(..., help="A run directory (the --out of `envsim run`).")) -> None:
    """Show a run's state, episode counts, termination reasons and usage."""
    from envsim.recording.render import status_view
    from envsim.recording.run_dir import RunDirectory

    try:
        console.print(status_view(RunDirectory.open(run_dir, manifest=None)))
    except EnvsimError as exc:
        _print_user_error(exc)


@app.command()
def show(
    run_dir: str = typer.Argument(..., help="A run directory (the --out of `envsim run`)."),
    episode: str | None = typer.Argument(None, help="Episode id (or a unique prefix); omit to list episodes."),
) -> None:
    """Pretty-print one episode (plan, messages, tool calls, state patches), or list the episodes."""
    from envsim.recording.render import episode_list_view, episode_view
    from envsim.recording.run_dir import RunDirectory, load_trace

    try:
        run = RunDirectory.open(run_dir, manifest=None)
        console.print(episode_list_view(run) if episode is None else episode_view(load_trace(run, episode)))
    except EnvsimError as exc:
        _print_user_error(exc)


@app.command()
def export(
    run_dir: str = typer.Argument(..., help="A run directory (the --out of `envsim run`)."),
    format: str = typer.Option(..., "--format", "-f", help="openai | hf | sharegpt"),
    out: str = typer.Option(..., "--out", "-o", help="The JSONL file to write."),
    include_failed: bool = typer.Option(False, "--include-failed", help="Keep failed episodes."),
    include_tool_errors: bool = typer.Option(
        False, "--include-tool-errors", help="Keep episodes with tool errors never recovered from."
    ),
    include_empty: bool = typer.Option(False, "--include-empty", help="Keep episodes with empty conversations."),
    arguments: str = typer.Option("string", "--arguments", help="hf only: tool-call arguments as string | object."),
) -> None:
    """Export a run as a training set (see docs/exports.md); prints what was written and what was left out."""
    from rich.table import Table

    from envsim.recording.exporters import ExportOptions, export_run

    try:
        if arguments not in ("string", "object"):
            raise EnvsimError(f"--arguments must be 'string' or 'object', got {arguments!r}")
        options = ExportOptions(
            include_failed=include_failed,
            include_tool_errors=include_tool_errors,
            include_empty=include_empty,
            arguments=arguments,  # type: ignore[arg-type]
        )
        report = export_run(run_dir, out, format, options)
    except EnvsimError as exc:
        _print_user_error(exc)
    if not console.is_terminal:  # a pipe or a log file: plain lines, never wrapped mid-word
        print(f"export {format} -> {out}\nwritten: {report.written}")
        if report.kept_with_tool_errors:
            print(f"  of which keep explicit tool errors: {report.kept_with_tool_errors}")
        for reason, count in report.skipped.items():
            print(f"skipped: {reason}: {count}")
        return
    table = Table(title=f"export {format} -> {out}", title_justify="left")
    table.add_column("episodes")
    table.add_column("count", justify="right")
    table.add_row("written", str(report.written))
    if report.kept_with_tool_errors:
        table.add_row("  of which keep explicit tool errors", str(report.kept_with_tool_errors))
    for reason, count in report.skipped.items():
        table.add_row(f"skipped: {reason}", str(count))
    console.print(table)


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
        overrides = [*set_, *split_seed_style_args(list(ctx.args))]
        if _validate_scenario_catalog(config, overrides):
            return
        loaded = load_config_or_catalog(config, overrides)
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


def _validate_scenario_catalog(path: str, overrides: list[str]) -> bool:
    """`envsim validate` of a scenario catalog: load it (and, when it has role instructions, check that
    its unscripted scenarios fill them), print "ok" and a summary. False when `path` is not a catalog."""
    from rich.text import Text

    from envsim.errors import ConfigErrors
    from envsim.scenarios.catalog import load_catalog
    from envsim.scenarios.live import is_scenario_catalog_file, template_errors
    from envsim.scenarios.views import catalog_summary

    if not is_scenario_catalog_file(path):
        return False
    loaded = load_catalog(path, overrides)
    if loaded.catalog.multiturn is not None:
        unscripted = [s for s in loaded.scenarios if not s.scripted]
        errors = template_errors(loaded, loaded.catalog.multiturn, only=unscripted)
        if errors:
            raise ConfigErrors(errors)
    console.print(Text("ok", style="bold green"))
    console.print(catalog_summary(loaded))
    return True


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="The config YAML to run."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<config name>)."),
    model: str | None = typer.Option(None, "--model", help="Use this model for every role, e.g. openai:gpt-4o-mini."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value: a.b[0].c=VALUE (repeatable)."),
    num_samples: int | None = typer.Option(None, "--num-samples", help="Override num_samples."),
    seed: int | None = typer.Option(None, "--seed", help="Override the run seed."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    force: bool = typer.Option(False, "--force", help="Resume even though the config changed since the run began."),
    trials: int | None = typer.Option(None, "--trials", help="Scenario runs: simulate each scenario K times."),
    include_scripted: bool = typer.Option(
        False, "--include-scripted", help="Scenario runs: simulate scripted scenarios live too (scripts ignored)."
    ),
    fail_under: float = typer.Option(
        1.0, "--fail-under", help="Scenario runs: exit 1 when the success rate (pass^1) is below this (0 to 1)."
    ),
    processes: int | None = typer.Option(
        None, "--processes", help="Simulate in N worker processes (overrides remote_params.num_processes)."
    ),
) -> None:
    """Simulate the config's conversations into a run directory (resumes an existing one).

    CONFIG may be a scenario catalog (or a config with scenario_catalog_path): its scenarios are simulated
    live --trials times, their expectations checked, and success and pass^k reported (see docs/scenarios.md).
    Seed-style overrides work too: `--inference_config.generation.temperature 0.5`.
    """
    from pathlib import Path

    from envsim.api import default_out_dir, run_config
    from envsim.config.overrides import split_seed_style_args
    from envsim.scenarios.views import evaluation_table
    from envsim.simulation.progress import LiveRunDisplay, summary_table

    out_dir = Path(out) if out else default_out_dir(config)
    display = LiveRunDisplay(err_console, title=f"envsim run {config}")
    try:
        _check_trial_options(trials, fail_under)
        overrides = [*set_, *split_seed_style_args(list(ctx.args))]
        with display:
            summary = run_async(
                run_config(
                    config,
                    out_dir=out_dir,
                    model_override=model,
                    overrides=overrides,
                    num_samples=num_samples,
                    seed=seed,
                    no_cache=no_cache,
                    force=force,
                    on_progress=display.update,
                    trials=trials,
                    include_scripted=include_scripted,
                    processes=processes,
                )
            )
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]cancelled:[/] finished episodes are saved in {out_dir}; run the same command again to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except EnvsimError as exc:
        _print_user_error(exc)
    console.print(summary_table(summary))
    if summary.evaluation is not None:
        console.print(evaluation_table(summary.evaluation))
    if not summary.ok:
        err_console.print(
            f"[bold red]error:[/] the run produced no successful episode ({summary.failed} failed); "
            f"see {out_dir / 'failures.jsonl'} or `envsim show {out_dir}`",
            highlight=False,
        )
        raise typer.Exit(1)
    if summary.evaluation is not None:
        _fail_under(summary.evaluation, fail_under, out_dir)


def _check_trial_options(trials: int | None, fail_under: float) -> None:
    if trials is not None and trials < 1:
        raise EnvsimError(f"--trials must be at least 1, got {trials}", hint="pass --trials 1 or more")
    if not 0.0 <= fail_under <= 1.0:
        raise EnvsimError(f"--fail-under is a success rate between 0 and 1, got {fail_under}")


def _fail_under(evaluation: Evaluation, fail_under: float, out_dir: Path) -> None:
    """Exit 1 when the scenario success rate (pass^1) is below `fail_under`."""
    rate = evaluation.pass_hat.get(1, 0.0)
    if rate < fail_under:
        err_console.print(
            f"[bold red]failed:[/] success rate {rate:.3f} is below --fail-under {fail_under:g}; "
            f"details in {out_dir / 'evaluation.json'} and `envsim show {out_dir} EPISODE`",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
def replay(
    target: str = typer.Argument(..., help="A scenario catalog, a directory of catalogs, or a run directory."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory for a catalog replay."),
    environments: str | None = typer.Option(
        None, "--environments", help="RUN_DIR mode: today's environment catalog (or scenario catalog / config)."
    ),
) -> None:
    """Replay scripted scenarios offline and check their expectations; or, given a run directory,
    re-execute its recorded tool calls against today's environments and report what changed.

    Exit code 0 when every expectation holds (or nothing changed), 1 otherwise."""
    from pathlib import Path

    from envsim.scenarios.reexecute import reexecute_run
    from envsim.scenarios.replay import replay_catalogs
    from envsim.scenarios.views import reexecution_table, replay_table

    try:
        if (Path(target) / "manifest.json").is_file():
            drift = run_async(reexecute_run(target, environments_path=environments))
            console.print(reexecution_table(drift))
            failed = drift.changed
        else:
            out_dir = Path(out) if out else Path("runs") / Path(target).stem
            report = run_async(replay_catalogs(target, out_dir))
            console.print(replay_table(report))
            failed = not report.passed
    except EnvsimError as exc:
        _print_user_error(exc)
    if failed:
        raise typer.Exit(1)


@app.command("fake-server")
def fake_server(
    port: int = typer.Option(8765, help="Port on 127.0.0.1 (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    latency: float = typer.Option(0.0, help="Seconds before each answer."),
    jitter: float = typer.Option(0.0, help="Latency varies uniformly by +- this many seconds."),
    handler: str | None = typer.Option(None, help="module:function computing replies (default: the mock model)."),
    api_key: str | None = typer.Option(None, help="Key clients must send (default: any key is accepted)."),
    fault: list[str] = typer.Option([], help="Inject faults, KIND=RATE (e.g. rate_limit=0.05); repeatable."),
) -> None:
    """Serve a fake OpenAI/Anthropic model endpoint, to run configs offline (Ctrl-C stops it).

    Point a model at it: `openai:<name>@<URL>/v1`, or engine OPENAI / ANTHROPIC with base_url."""
    from envsim.testing.fake_server.serve import serve

    def announce(url: str) -> None:
        console.print(url, highlight=False)
        err_console.print(f"OpenAI base_url: {url}/v1   Anthropic base_url: {url}   (Ctrl-C stops)")

    try:
        serve(
            host=host,
            port=port,
            latency=latency,
            jitter=jitter,
            handler=handler,
            api_key=api_key,
            faults=fault,
            announce=announce,
        )
    except EnvsimError as exc:
        _print_user_error(exc)


def main() -> None:
    try:
        app()
    except EnvsimError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
