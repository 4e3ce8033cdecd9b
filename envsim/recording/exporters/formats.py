"""The export formats: how each one builds a line, and which options it takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envsim.errors import EnvsimError
from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ErrorTurns, ExportOptions
from envsim.recording.exporters.hf import hf_record
from envsim.recording.exporters.llamafactory import alternation_problem, llamafactory_record
from envsim.recording.exporters.openai_format import openai_record
from envsim.recording.exporters.oumi import oumi_record
from envsim.recording.exporters.sharegpt import sharegpt_record
from envsim.recording.trace import Trace

RecordBuilder = Callable[[Trace, list[TrainingMessage], ExportOptions], dict[str, Any]]
LLAMAFACTORY_ALTERNATION = "llamafactory_alternation"


@dataclass(frozen=True)
class ExportFormat:
    name: str
    build: RecordBuilder
    consumer: str  # who reads it (docs, CLI help)
    supports_weights: bool = False  # per-message training weights (`--error-turns weight0`)
    supports_reasoning: bool = True  # has a place for the model's reasoning (`--reasoning keep`)
    # A last check of a built line: the reason the consumer would reject it, or None.
    reject: Callable[[dict[str, Any]], str | None] | None = None

    @property
    def default_error_turns(self) -> ErrorTurns:
        return "weight0" if self.supports_weights else "drop"

    def error_turns(self, options: ExportOptions) -> ErrorTurns:
        """The error-turn mode for `options`, checked against what the format can express."""
        mode = options.error_turns or self.default_error_turns
        if mode == "weight0" and not self.supports_weights:
            raise EnvsimError(
                f"--error-turns weight0 needs per-message weights, which the {self.name} format does not have",
                hint="use --error-turns drop (the default for this format) or keep, or --format openai",
            )
        return mode

    def check_options(self, options: ExportOptions) -> None:
        self.error_turns(options)
        if options.reasoning == "keep" and not self.supports_reasoning:
            raise EnvsimError(
                f"the {self.name} format has no field for the model's reasoning",
                hint="drop --reasoning keep, or export --format hf / oumi / sharegpt / llamafactory",
            )


def _llamafactory_reject(record: dict[str, Any]) -> str | None:
    return LLAMAFACTORY_ALTERNATION if alternation_problem(record["conversations"]) else None


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("openai", openai_record, "OpenAI fine-tuning", supports_weights=True, supports_reasoning=False),
        ExportFormat("hf", hf_record, "TRL SFTTrainer / apply_chat_template"),
        ExportFormat("sharegpt", sharegpt_record, "Hermes function-calling (ShareGPT)"),
        ExportFormat("llamafactory", llamafactory_record, "LLaMA-Factory", reject=_llamafactory_reject),
        ExportFormat("oumi", oumi_record, "oumi text_sft_jsonl"),
    )
}


def export_format(name: str) -> ExportFormat:
    if name not in EXPORT_FORMATS:
        raise EnvsimError(f"unknown export format {name!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}")
    return EXPORT_FORMATS[name]
