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
from envsim.event_loop import StopSignal, run_async

if TYPE_CHECKING:
    from envsim.runs import RunSummary
    from envsim.scenarios.evaluation import Evaluation

app = typer.Typer(
    name="envsim",
    help="Simulate multi-turn, tool-using conversations; record, replay, evaluate and export them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _CliConsole(Console):
    """A console that never wraps text mid-word in a pipe or a log file (whatever stdout is at print time)."""

    @property  # type: ignore[override]
    def soft_wrap(self) -> bool:
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, _value: bool) -> None:  # Console.__init__ assigns it; the property decides
        pass


console = _CliConsole()
err_console = _CliConsole(stderr=True)


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
    pointer: str | None = typer.Argument(None, help="With --state: a JSON Pointer into it, e.g. /orders/#W1001."),
    state: bool = typer.Option(
        False,
        "--state",
        help="Print the episode's final state as JSON (initial state + recorded patches), or the part at "
        "POINTER (`--state /orders/#W1001`). Add --env when several environments have a state.",
    ),
    env: str | None = typer.Option(None, "--env", help="With --state: the environment whose state to print."),
) -> None:
    """Pretty-print one episode (plan, messages, tool calls, state patches), or list the episodes."""
    from envsim.recording.render import episode_list_view, episode_view, final_state_json
    from envsim.recording.run_dir import RunDirectory, load_trace

    try:
        run = RunDirectory.open(run_dir, manifest=None)
        if state or pointer is not None:
            if episode is None or not state:
                raise EnvsimError(
                    "a JSON Pointer is only taken with --state" if episode is not None else "--state needs an episode",
                    hint="envsim show RUN_DIR EPISODE --state [/pointer]",
                )
            # Plain JSON on stdout (no rich markup or wrapping), so it pipes into jq and files.
            typer.echo(final_state_json(load_trace(run, episode), pointer=pointer or "", env=env))
            return
        console.print(episode_list_view(run) if episode is None else episode_view(load_trace(run, episode)))
    except EnvsimError as exc:
        _print_user_error(exc)


@app.command()
def export(
    run_dir: str = typer.Argument(..., help="A run directory (the --out of `envsim run`)."),
    format: str = typer.Option(..., "--format", "-f", help="openai | hf | sharegpt | llamafactory | oumi"),
    out: str = typer.Option(..., "--out", "-o", help="The JSONL file to write."),
    include_failed: bool = typer.Option(False, "--include-failed", help="Keep failed episodes."),
    include_tool_errors: bool = typer.Option(
        False, "--include-tool-errors", help="Keep episodes with tool errors never recovered from."
    ),
    include_empty: bool = typer.Option(False, "--include-empty", help="Keep episodes with empty conversations."),
    only_passing: bool = typer.Option(
        False, "--only-passing", help="Keep only episodes whose expectation checks all passed."
    ),
    error_turns: str = typer.Option(
        None, "--error-turns", help="weight0 | drop | keep (default: weight0 for openai, drop for the others)."
    ),
    reasoning: str = typer.Option("drop", "--reasoning", help="keep | drop the model's reasoning."),
    split_parallel_calls: bool = typer.Option(
        False, "--split-parallel-calls", help="One tool call per assistant turn (single-call chat templates)."
    ),
    call_ids: str = typer.Option("keep", "--call-ids", help="keep | alnum9 (9-character ids, Mistral templates)."),
    arguments: str = typer.Option("object", "--arguments", help="hf only: tool-call arguments as object | string."),
    check_template: str = typer.Option(
        None, "--check-template", help="Render the export through this chat template (.jinja / tokenizer_config.json)."
    ),
) -> None:
    """Export a run as a training set (see docs/exports.md); prints what was written and what was left out.

    With --check-template, every written conversation is rendered through the template as transformers
    would; exit code 1 when any fails to render.
    """
    import json

    from envsim.recording.exporters import ExportOptions, export_run
    from envsim.recording.exporters.chat_template import check_template as render_all
    from envsim.recording.exporters.chat_template import load_chat_template, rows_of_export
    from envsim.recording.exporters.filters import ERROR_TURNS
    from envsim.recording.exporters.llamafactory import dataset_info_entry
    from envsim.recording.exporters.views import (
        export_report_lines,
        export_report_view,
        template_report_view,
        template_summary_lines,
    )

    def one_of(flag: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise EnvsimError(f"{flag} must be one of {', '.join(allowed)}; got {value!r}")

    try:
        one_of("--arguments", arguments, ("object", "string"))
        one_of("--reasoning", reasoning, ("keep", "drop"))
        one_of("--call-ids", call_ids, ("keep", "alnum9"))
        if error_turns is not None:
            one_of("--error-turns", error_turns, ERROR_TURNS)
        options = ExportOptions(
            include_failed=include_failed,
            include_tool_errors=include_tool_errors,
            include_empty=include_empty,
            only_passing=only_passing,
            arguments=arguments,  # type: ignore[arg-type]
            error_turns=error_turns,  # type: ignore[arg-type]
            reasoning=reasoning,  # type: ignore[arg-type]
            split_parallel_calls=split_parallel_calls,
            call_ids=call_ids,  # type: ignore[arg-type]
        )
        template = load_chat_template(check_template) if check_template else None
        report = export_run(run_dir, out, format, options)
        if console.is_terminal:
            console.print(export_report_view(report))
        else:  # a pipe or a log file: plain lines, never wrapped mid-word
            print("\n".join(export_report_lines(report)))
        if format == "llamafactory":
            info_path = Path(out).with_name(f"{Path(out).stem}.dataset_info.json")
            entry = json.dumps(dataset_info_entry(Path(out)), indent=2)
            info_path.write_text(entry + "\n", encoding="utf-8")
            console.print(f"LLaMA-Factory dataset_info.json entry (also in {info_path}):", soft_wrap=True)
            console.print(entry, markup=False, highlight=False)
        if template is not None:
            checked = render_all(template, rows_of_export(out))
            console.print(template_report_view(checked))
            for line in template_summary_lines(checked):
                console.print(line, soft_wrap=True)
            if checked.failed:
                raise typer.Exit(1)
    except EnvsimError as exc:
        _print_user_error(exc)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def validate(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="A config file, or an environment catalog file."),
    set_: list[str] = typer.Option([], "--set", help="Override a value: --set a.b[0].c=VALUE (repeatable)."),
    import_handlers: bool = typer.Option(
        False, "--import-handlers", help="Import python tool handlers (runs their module code) to check them."
    ),
) -> None:
    """Check a config or catalog: print "ok" and a summary, or every error (exit code 0 / 1).

    Every check `envsim run` makes before its first model call runs here too; python tool handlers are
    found without running their code unless --import-handlers is given.

    The seed's override form works too: `envsim validate CONFIG --inference_config.generation.temperature 0.5`.
    """
    from rich.text import Text

    import envsim.attributes.pipeline  # noqa: F401  (registers the attribute checks with the loader)
    from envsim.config.loader import load_config_or_catalog
    from envsim.config.overrides import split_seed_style_args
    from envsim.config.preflight import preflight_errors
    from envsim.config.summary import build_summary, render_summary
    from envsim.errors import ConfigErrors

    try:
        overrides = [*set_, *split_seed_style_args(list(ctx.args))]
        if _validate_scenario_catalog(config, overrides):
            return
        loaded = load_config_or_catalog(config, overrides)
        preflight = preflight_errors(loaded, import_handlers=import_handlers)
        if preflight:
            raise ConfigErrors(preflight)
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
    batch: bool = typer.Option(
        False, "--batch", help="Send model calls through the providers' batch APIs, in waves (half price, slow)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Build the run's plan and print it; simulate nothing, write nothing."
    ),
) -> None:
    """Simulate the config's conversations into a run directory (resumes an existing one).

    CONFIG may be a scenario catalog (or a config with scenario_catalog_path): its scenarios are simulated
    live --trials times, their expectations checked, and success and pass^k reported (see docs/scenarios.md).
    Seed-style overrides work too: `--inference_config.generation.temperature 0.5`.
    With --dry-run, prints the plan (episodes, run directory and how far it got, models per role,
    processes, batch, cache, dataset file) after every check that needs no model.
    """
    from pathlib import Path

    from envsim.config.overrides import split_seed_style_args
    from envsim.runs import execute_plan, plan_run
    from envsim.runs.plan import default_out_dir
    from envsim.runs.view import plan_lines, plan_view
    from envsim.scenarios.views import evaluation_table
    from envsim.simulation.progress import LiveRunDisplay, summary_lines, summary_table

    out_dir = Path(out) if out else default_out_dir(config)
    display = LiveRunDisplay(err_console, title=f"envsim run {config}")
    try:
        _check_trial_options(trials, fail_under)
        overrides = [*set_, *split_seed_style_args(list(ctx.args))]
        plan = plan_run(
            config,
            out_dir=out_dir,
            model_override=model,
            overrides=overrides,
            num_samples=num_samples,
            seed=seed,
            no_cache=no_cache,
            force=force,
            trials=trials,
            include_scripted=include_scripted,
            processes=processes,
            batch=batch,
        )
        if dry_run:
            if console.is_terminal:
                console.print(plan_view(plan))
            else:  # a pipe or a log file: plain lines, never wrapped mid-word
                print("\n".join(plan_lines(plan)))
            return
        with display:
            summary = run_async(
                execute_plan(plan, on_progress=display.update),
                stop_on_signals=True,  # SIGTERM / SIGHUP stop the run like Ctrl-C
            )
    except KeyboardInterrupt as exc:
        why = f" ({exc.args[0]})" if isinstance(exc, StopSignal) else ""
        err_console.print(
            f"[yellow]cancelled{why}:[/] finished episodes are saved in {out_dir}; "
            "run the same command again to resume.",
            highlight=False,
        )
        raise typer.Exit(exc.exit_code if isinstance(exc, StopSignal) else 130) from None
    except EnvsimError as exc:
        _print_user_error(exc)
    if console.is_terminal:
        console.print(summary_table(summary))
    else:  # a pipe or a log file: plain lines, never wrapped mid-word
        print("\n".join(summary_lines(summary)))
    _print_preview(summary)
    if summary.evaluation is not None:
        console.print(evaluation_table(summary.evaluation))
    if not summary.ok:
        err_console.print(
            f"[bold red]error:[/] the run produced no successful episode ({summary.failed} failed); "
            f"see {out_dir / 'failures.jsonl'} or `envsim show {out_dir}`",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if summary.evaluation is not None:
        _fail_under(summary.evaluation, fail_under, out_dir)


def _print_preview(summary: RunSummary) -> None:
    """oumi synth's after-run block: the first samples, the count, the path, how to train on them."""
    from envsim.simulation.preview import run_preview

    block = run_preview(summary.output_path, summary.dataset_written, summary.run_dir)
    if block is not None:
        console.print(block)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def synth(
    ctx: typer.Context,
    config: str = typer.Option(..., "--config", "-c", help="The synthesis config (oumi synth's format)."),
    level: str | None = typer.Option(
        None, "--level", "--log-level", "-log", help="Logging level: DEBUG | INFO | WARNING | ERROR | CRITICAL."
    ),
    output_path: str | None = typer.Option(None, "--output_path", help="Where to write the dataset file."),
    model: str | None = typer.Option(None, "--model", help="Use this model for every role, e.g. mock:x."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<config name>)."),
) -> None:
    """Synthesize a dataset like `oumi synth -c CONFIG`: dotted overrides (`--num_samples 5`,
    `--inference_config.generation.temperature 0.2`), a dataset file (output_path, else
    envsim_synth_results_<time>.jsonl in the working directory) and a preview of the first samples."""
    import logging
    from datetime import datetime

    from envsim.config.loader import load_config
    from envsim.config.overrides import split_seed_style_args
    from envsim.runs import execute_plan, plan_run
    from envsim.runs.plan import default_out_dir
    from envsim.simulation.progress import LiveRunDisplay

    try:
        if level is not None:
            if level.upper() not in logging.getLevelNamesMapping():
                raise EnvsimError(f"--level {level!r} is not a logging level", hint="use DEBUG, INFO, WARNING or ERROR")
            logging.basicConfig(level=level.upper())
        overrides = split_seed_style_args(list(ctx.args))
        if output_path is not None:
            overrides.append(f"output_path={output_path}")
        elif not load_config(config, overrides).output_path:
            stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
            overrides.append(f"output_path={Path.cwd() / f'envsim_synth_results_{stamp}.jsonl'}")
        out_dir = Path(out) if out else default_out_dir(config)
        plan = plan_run(config, out_dir=out_dir, model_override=model, overrides=overrides)
        display = LiveRunDisplay(err_console, title=f"envsim synth {config}")
        with display:
            summary = run_async(execute_plan(plan, on_progress=display.update))
    except KeyboardInterrupt:
        err_console.print("[yellow]cancelled:[/] run the same command again to resume.", highlight=False)
        raise typer.Exit(130) from None
    except EnvsimError as exc:
        _print_user_error(exc)
    if summary.dataset_written == 0:
        err_console.print(
            "No results found, please check your configuration and try again "
            f"(`envsim show {summary.run_dir}` lists what failed).",
            highlight=False,
        )
        raise typer.Exit(1)
    _print_preview(summary)


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
    batch_delay: float = typer.Option(0.0, help="Seconds a batch (OpenAI Batch / Anthropic Message Batches) takes."),
    batch_expire_after: float | None = typer.Option(None, help="Batches not done after this many seconds expire."),
    batch_fault: list[str] = typer.Option([], help="Fail batch rows, KIND=RATE (e.g. server_error=0.1)."),
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
            batch_delay=batch_delay,
            batch_expire_after=batch_expire_after,
            batch_faults=batch_fault,
        )
    except EnvsimError as exc:
        _print_user_error(exc)


@app.command()
def pairs(
    seeds: str | None = typer.Option(
        None, "--seeds", help="Seed pairs: JSONL of {llm_input, llm_output} (or a JSON list). Omit to resume --out."
    ),
    num_pairs: int | None = typer.Option(None, "--num-pairs", "-n", help="How many new pairs to generate."),
    model: str = typer.Option(..., "--model", help="Generator model, e.g. openai:gpt-4o-mini or mock:x."),
    response_model: str | None = typer.Option(
        None, "--response-model", help="Model answering the inputs under --system-prompt (default: --model)."
    ),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", help="The application's system prompt; responses are its answers."
    ),
    system_prompt_file: str | None = typer.Option(
        None, "--system-prompt-file", help="Read --system-prompt from a file."
    ),
    application_description: str | None = typer.Option(None, "--application-description", help="What the app does."),
    mode: str | None = typer.Option(None, "--mode", help="CONSERVATIVE | BALANCED (default) | CREATIVE | ADVENTUROUS"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Pairs per generation call, 1-10 (default 5)."),
    num_shots: int | None = typer.Option(None, "--num-shots", help="Pairs shown per generation call (default 5)."),
    parallel: bool | None = typer.Option(
        None, "--parallel/--sequential", help="Run up to 4 generation batches at a time (default: sequential)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seeds shot sampling and model sampling (default 0)."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/pairs/<seeds name>)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    force: bool = typer.Option(False, "--force", help="Resume even though the request changed."),
) -> None:
    """Generate new input-response pairs from seed pairs into a run directory (resumes an existing one).

    Without --seeds, resumes the job in --out with its recorded request (-n may extend it). Writes
    pairs.jsonl (withpi's shape) and diversity.json; `envsim status` / `show` / `export` work on it."""
    from envsim.pairs.api import build_pairs_models, close_pairs_models, run_pairs
    from envsim.pairs.options import default_out_dir, request_from_options
    from envsim.pairs.types import JobStatus
    from envsim.pairs.views import pairs_table

    out_dir = Path(out) if out else Path("runs/pairs")
    try:
        out_dir = default_out_dir(seeds, out)
        request = request_from_options(
            seeds_path=seeds,
            out_dir=out_dir,
            num_pairs=num_pairs,
            system_prompt=system_prompt,
            system_prompt_file=system_prompt_file,
            application_description=application_description,
            mode=mode,
            batch_size=batch_size,
            num_shots=num_shots,
            parallel=parallel,
            seed=seed,
        )
        cache_dir = None if no_cache else out_dir.parent / ".envsim_cache"
        models = build_pairs_models(model, response_model, cache_dir=cache_dir)

        async def job() -> JobStatus:
            try:
                return await run_pairs(request, out_dir, models, force=force, command_line=sys.argv)
            finally:
                await close_pairs_models(models)

        status = run_async(job())
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]cancelled:[/] recorded pairs are saved in {out_dir}; run the same command again to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except EnvsimError as exc:
        _print_user_error(exc)
    console.print(pairs_table(status, out_dir))
    for line in status.detailed_status[-3:]:
        err_console.print(line, highlight=False, markup=False)
    if status.state.value != "DONE":
        raise typer.Exit(1)


@app.command()
def serve(
    model: str = typer.Option(..., "--model", help="Generator model for every job, e.g. openai:gpt-4o-mini."),
    response_model: str | None = typer.Option(
        None, "--response-model", help="Model answering inputs under a job's system_prompt (default: --model)."
    ),
    jobs_dir: str = typer.Option("runs/pairs", "--jobs-dir", help="Where jobs live (one run directory each)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8766, "--port", help="Port (0 picks a free one)."),
    api_key_env: str = typer.Option(
        "ENVSIM_SERVE_API_KEY", "--api-key-env", help="Environment variable holding the key clients must send."
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="No key at all; only allowed on a loopback --host."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
) -> None:
    """Serve pairs jobs over HTTP in withpi's shapes (POST/GET/DELETE /data/generate_input_response_pairs,
    OpenAPI at /openapi.json); clients authenticate with the x-api-key header. Ctrl-C stops the server;
    unfinished jobs resume at the next start."""
    import os

    from envsim.pairs.api import build_pairs_models, close_pairs_models
    from envsim.pairs.http_service import PairsHttpServer, check_auth_settings, serve_forever
    from envsim.pairs.jobs import PairsJobService

    def announce(url: str) -> None:
        console.print(url, highlight=False)
        err_console.print(
            f"jobs in {jobs_dir}; POST {url}/data/generate_input_response_pairs; OpenAPI at {url}/openapi.json "
            "(Ctrl-C stops)",
            highlight=False,
        )

    try:
        api_key = os.environ.get(api_key_env) or None
        check_auth_settings(host, api_key, no_auth, api_key_env)
        cache_dir = None if no_cache else Path(jobs_dir) / ".envsim_cache"
        models = build_pairs_models(model, response_model, cache_dir=cache_dir)

        async def serve_jobs() -> None:
            server = PairsHttpServer(PairsJobService(jobs_dir, models), host=host, port=port, api_key=api_key)
            try:
                await serve_forever(server, announce)
            finally:
                await close_pairs_models(models)

        run_async(serve_jobs())
    except KeyboardInterrupt:
        err_console.print("stopped; unfinished jobs resume at the next `envsim serve` on this --jobs-dir")
    except OSError as exc:
        _print_user_error(EnvsimError(f"cannot serve on {host}:{port}: {exc.strerror or exc}"))
    except EnvsimError as exc:
        _print_user_error(exc)


def _register_subcommands() -> None:
    from envsim.cli_batch import batch_app
    from envsim.cli_topics import generate, topics_app

    app.add_typer(batch_app, name="batch")
    app.add_typer(topics_app, name="topics")
    app.command("generate")(generate)


_register_subcommands()


def main() -> None:
    from envsim.redaction import install_stream_redaction, register_argv

    # Everything printed (tables, errors, tracebacks, warnings) passes through the redaction layer.
    register_argv(sys.argv)
    install_stream_redaction()
    try:
        app()
    except EnvsimError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
