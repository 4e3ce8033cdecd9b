"""What `oumi synth` prints after a run, printed by `envsim run` and `envsim synth` too: a table of the
first samples of the dataset file, how many were written, where, and how to train on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

PREVIEW_ROWS = 3
MAX_COLUMNS = 6  # oumi's _TABLE_COLUMNS_TO_DISPLAY
MAX_CELL = 200  # oumi's _MAX_REPRESENTATION_LENGTH


def first_records(path: Path, limit: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if len(records) >= limit:
                break
            if line.strip():
                records.append(json.loads(line))
    return records


def preview_table(records: list[dict[str, Any]]) -> Table:
    """oumi's layout: the first columns (one "... and N more columns..." column past six), each cell the
    value's repr cut at 200 characters."""
    table = Table(title="Synthesis Results", title_style="bold magenta", show_edge=False, show_lines=True)
    columns = list(records[0]) if records else []
    more = None
    if len(columns) > MAX_COLUMNS:
        more = f"... and {len(columns) - MAX_COLUMNS + 1} more columns..."
        columns = columns[: MAX_COLUMNS - 1]
    for column in [*columns, *([more] if more else [])]:
        table.add_column(column, style="green", overflow="fold")
    for record in records:
        cells = [_cell(record.get(column)) for column in columns]
        table.add_row(*cells, *(["..."] if more else []))
    return table


def _cell(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "..."


def training_hint(dataset: Path, run_dir: Path) -> Text:
    trl = run_dir.parent / f"{run_dir.name}_hf.jsonl"
    chats = run_dir.parent / f"{run_dir.name}_chats.jsonl"
    lines = [
        "To train on it with TRL, export the conversations (`messages` + `tools` columns):",
        f"  envsim export {run_dir} --format hf --out {trl}",
        "  from datasets import load_dataset; from trl import SFTTrainer",
        f'  SFTTrainer(model="<model>", train_dataset=load_dataset("json", data_files="{trl}", split="train")).train()',
        "",
        "To train on it with oumi: oumi train -c path/to/your/train/config.yaml, with the conversations",
        f"(envsim export {run_dir} --format openai --out {chats}) in the config:",
        "  data:",
        "    train:",
        "      datasets:",
        '        - dataset_name: "text_sft_jsonl"',
        f'          dataset_path: "{chats}"',
        f"(the dataset file {dataset} itself holds every attribute, like oumi synth's output)",
    ]
    return Text("\n".join(lines), style="green")


def run_preview(dataset: Path | None, written: int, run_dir: Path) -> RenderableType | None:
    """The whole block, or None when the run wrote no dataset file (no output_path)."""
    if dataset is None or not dataset.is_file():
        return None
    if written == 0:
        return Text(f"No samples were written to {dataset}; see `envsim show {run_dir}` for what failed.", "yellow")
    records = first_records(dataset)
    parts: list[RenderableType] = [preview_table(records)]
    if written > len(records):
        parts.append(Text(f"... and {written - len(records)} more samples"))
    parts.append(Text(f"\nSuccessfully synthesized {written} samples and saved to {dataset}\n", "green"))
    parts.append(training_hint(dataset, run_dir))
    return Group(*parts)
