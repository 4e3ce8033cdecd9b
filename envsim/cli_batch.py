"""`envsim batch ...`: batch tasks in a work directory (see envsim.models.batch and docs/batch.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from envsim.errors import EnvsimError
from envsim.event_loop import run_async

batch_app = typer.Typer(
    help="Batch inference tasks: add, submit, status, download, cancel, run, clean.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

WorkDir = typer.Option("batch_work_dir", "--work-dir", "-w", help="The work directory holding the tasks.")


def _fail(exc: EnvsimError) -> None:
    err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False, markup=True)
    raise typer.Exit(1)


def _with_task(work_dir: str, name: str, action: Any) -> Any:
    """Open the task, run the async `action(task)`, close its client; user errors exit 1."""
    from envsim.models.batch import BatchTask

    async def go() -> Any:
        task = BatchTask.open(work_dir, name)
        try:
            return await action(task)
        finally:
            await task.aclose()

    try:
        return run_async(go())
    except EnvsimError as exc:
        _fail(exc)


def _status_table(status: Any) -> Table:
    counts = status.counts()
    table = Table(
        title=f"batch task {status.name} ({status.backend.provider}:{status.backend.model})", title_justify="left"
    )
    for column in ("part", "attempt", "rows", "batch id", "state", "remote counts"):
        table.add_column(column)
    for part in status.parts:
        remote = ", ".join(f"{k} {v}" for k, v in part.counts.items() if v) or "-"
        table.add_row(str(part.index), str(part.attempt), str(len(part.rows)), part.batch_id or "-", part.state, remote)
    table.caption = (
        f"{counts['requests']} requests: {counts['succeeded']} succeeded, {counts['failed']} failed, "
        f"{counts['running']} running, {counts['pending']} pending" + (" (cancelled)" if status.cancelled else "")
    )
    return table


@batch_app.command()
def add(
    task: str = typer.Argument(..., help="Task name (created on first use)."),
    input: Path = typer.Option(..., "--input", "-i", help="JSONL: {custom_id?, messages, tools?, temperature?...}"),
    model: str = typer.Option(..., "--model", help="openai:NAME[@URL], anthropic:NAME[@URL] or azure:DEPLOYMENT"),
    work_dir: str = WorkDir,
    base_url: str | None = typer.Option(None, "--base-url", help="API base URL (azure: the resource endpoint)."),
    api_key_env: str | None = typer.Option(None, "--api-key-env", help="Variable holding the API key."),
    azure_api_version: str | None = typer.Option(None, "--azure-api-version", help="azure: the API version."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Requests per batch (default: the API's limit)."),
    max_attempts: int = typer.Option(3, "--max-attempts", help="Tries per request before it counts as failed."),
) -> None:
    """Add chat requests from a JSONL file to a task."""
    from envsim.models.batch import BackendSpec, BatchTask

    try:
        spec = BackendSpec.parse(model, base_url=base_url, api_key_env=api_key_env)
        if azure_api_version:
            spec = spec.model_copy(update={"azure_api_version": azure_api_version})
        batch = BatchTask.create(work_dir, task, spec, batch_size=batch_size, max_attempts=max_attempts)
        ids = batch.add_many(read_request_rows(input))
    except EnvsimError as exc:
        _fail(exc)
    console.print(f"added {len(ids)} request(s) to {Path(work_dir) / task} ({len(batch.status.rows)} in all)")


def read_request_rows(path: Path) -> list[tuple[Any, str | None]]:
    """Rows of a request file: a ModelRequest's JSON, or an OpenAI-style chat row."""
    from pydantic import ValidationError

    from envsim.messages import Message, ToolSpec
    from envsim.models.base import GenerationParams, ModelRequest
    from envsim.models.batch.task import BatchTaskError

    rows: list[tuple[Any, str | None]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BatchTaskError(f"cannot read {path}: {exc.strerror}") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            custom_id = row.pop("custom_id", None)
            if "params" in row or "response_schema" in row:
                request = ModelRequest.model_validate(row)
            else:
                tools = [
                    ToolSpec(
                        name=t["function"]["name"],
                        description=t["function"].get("description", ""),
                        parameters=t["function"].get("parameters") or {"type": "object", "properties": {}},
                    )
                    for t in row.pop("tools", [])
                ]
                messages = [Message.model_validate(m) for m in row.pop("messages")]
                params = GenerationParams(
                    temperature=row.pop("temperature", None),
                    top_p=row.pop("top_p", None),
                    max_tokens=row.pop("max_tokens", None) or row.pop("max_completion_tokens", None),
                    seed=row.pop("seed", None),
                )
                request = ModelRequest(
                    messages=messages, tools=tools, tool_choice=row.pop("tool_choice", None), params=params
                )
                if row:
                    raise ValueError(f"unknown key(s) {', '.join(sorted(row))}")
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise BatchTaskError(
                f"{path}:{number}: not a chat request row ({exc})",
                hint='each line: {"custom_id": "...", "messages": [{"role": "user", "content": "..."}], ...}',
            ) from None
        rows.append((request, custom_id))
    return rows


@batch_app.command()
def submit(task: str = typer.Argument(...), work_dir: str = WorkDir) -> None:
    """Partition the task's unsubmitted requests into batches, upload and submit them."""

    async def action(batch: Any) -> Any:
        parts = await batch.submit()
        return batch.status, parts

    status, parts = _with_task(work_dir, task, action)
    console.print(f"submitted {len(parts)} batch(es)")
    console.print(_status_table(status))


@batch_app.command()
def status(task: str = typer.Argument(...), work_dir: str = WorkDir) -> None:
    """Poll the task's batches and show their states (downloads the results of ended ones)."""

    async def action(batch: Any) -> Any:
        return await batch.refresh()

    console.print(_status_table(_with_task(work_dir, task, action)))


@batch_app.command()
def download(task: str = typer.Argument(...), work_dir: str = WorkDir) -> None:
    """Download ended batches' results and merge them into results.jsonl (in request order)."""

    async def action(batch: Any) -> Any:
        await batch.refresh()
        return batch.merge(), batch.status

    path, state = _with_task(work_dir, task, action)
    console.print(_status_table(state))
    console.print(f"results: {path}")


@batch_app.command()
def cancel(task: str = typer.Argument(...), work_dir: str = WorkDir) -> None:
    """Cancel the task's running batches (rows already answered are kept; `submit` resumes the rest)."""

    async def action(batch: Any) -> Any:
        return await batch.cancel()

    parts = _with_task(work_dir, task, action)
    console.print(f"cancelling {len(parts)} batch(es)")


@batch_app.command("run")
def run_task(
    task: str = typer.Argument(...),
    work_dir: str = WorkDir,
    poll_interval: float | None = typer.Option(None, "--poll-interval", help="Seconds between polls."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up waiting after this many seconds."),
) -> None:
    """Submit, poll, download, resubmit failed rows and merge: until every request has a final result."""

    def progress(state: Any) -> None:
        counts = state.counts()
        err_console.print(
            f"{counts['succeeded']}/{counts['requests']} succeeded, {counts['failed']} failed, "
            f"{counts['running']} running",
            highlight=False,
        )

    async def action(batch: Any) -> Any:
        await batch.run(poll_interval_s=poll_interval, timeout_s=timeout, on_progress=progress)
        return batch.status, batch.path / "results.jsonl"

    state, path = _with_task(work_dir, task, action)
    console.print(_status_table(state))
    console.print(f"results: {path}")


@batch_app.command()
def clean(
    task: str = typer.Argument(...),
    work_dir: str = WorkDir,
    keep_local: bool = typer.Option(False, "--keep-local", help="Delete only the remote files."),
) -> None:
    """Delete the remote files this task uploaded or made (never other files) and the task's directory."""

    async def action(batch: Any) -> Any:
        return await batch.clean(local=not keep_local)

    deleted = _with_task(work_dir, task, action)
    console.print(f"deleted {len(deleted)} remote file(s)" + ("" if keep_local else f" and {Path(work_dir) / task}"))
