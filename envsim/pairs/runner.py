"""One pairs job, run to its end in an envsim run directory.

How a pair is recorded: each accepted pair is one `Trace` in traces.jsonl (episode `pair-000042`,
sample_index 42): attributes `llm_input`, `llm_output`, `batch`, `exploration_mode`; conversation `pair`
with the messages [system prompt (when the job has one), user input, assistant response]; termination
`generated_pair`; usage per role (`pairs_generator` on the first pair a batch contributed,
`pairs_responder` per pair). So `envsim status`, `show` and `export --format openai|hf|sharegpt` work on a
pairs job as on any run. Besides the run directory's own files the job writes:

    pairs.jsonl       the pairs in withpi's shape ({"llm_input", "llm_output"} per line), at the end
    diversity.json    DiversityReport, rewritten after every batch
    messages.log      every status line (status.json keeps the last 20 as `detailed_status`)
    cancel.requested  present when someone asked the job to stop (any process may create it)

The manifest's config is {"kind": "pairs", "num_samples": N, "pairs": <the request without N>}, so a
re-run with a larger N extends the job and any other change is refused as a different job (`--force`).
Resuming skips recorded pairs: batch numbers continue after the last recorded batch, and with the
response cache the same seed gives the same pairs.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.errors import EnvsimError, ModelError, OutputValidationError
from envsim.messages import Message
from envsim.models.base import ChatModel, GenerationParams, RequestContext, Usage
from envsim.models.cache import ResponseCache
from envsim.models.typed_call import TypedCall
from envsim.pairs.diversity import Deduplicator, diversity_report
from envsim.pairs.exploration import settings_for
from envsim.pairs.prompts import GENERATOR_SYSTEM, GeneratedInputs, GeneratedPairs, generation_prompt
from envsim.pairs.types import DiversityReport, Example, PairsRequest
from envsim.recording import jsonl
from envsim.recording.manifest import RunManifest
from envsim.recording.run_dir import RunDirectory
from envsim.recording.status import RunState
from envsim.recording.trace import TerminationReason, Trace

PAIR_CONVERSATION = "pair"
PAIRS_FILE = "pairs.jsonl"
DIVERSITY_FILE = "diversity.json"
MESSAGES_FILE = "messages.log"
CANCEL_FILE = "cancel.requested"
GENERATOR_ROLE = "pairs_generator"
RESPONDER_ROLE = "pairs_responder"
JOB_KIND = "pairs"
MAX_PARALLEL_BATCHES = 4
MAX_FAILED_BATCHES = 3  # consecutive batches without a usable reply before the job fails
# Batches a job may spend, as a multiple of the batches N pairs need: the rest absorbs duplicates.
BATCH_BUDGET_FACTOR = 3


@dataclass
class PairsModels:
    """The generator (new inputs or pairs) and the responder (answers under the application's system
    prompt); the same model unless a response model is given."""

    generator: ChatModel
    responder: ChatModel
    cache: ResponseCache | None = None  # the stacks' response cache, closed with them

    def names(self) -> dict[str, str]:
        return {GENERATOR_ROLE: self.generator.name, RESPONDER_ROLE: self.responder.name}


def job_manifest(request: PairsRequest, models: dict[str, str], command_line: list[str] | None = None) -> RunManifest:
    config = {
        "kind": JOB_KIND,
        "num_samples": request.num_pairs_to_generate,
        JOB_KIND: request.model_dump(mode="json", exclude={"num_pairs_to_generate"}),
    }
    return RunManifest.create(config, seed=request.seed, models=models, command_line=command_line or [])


def request_from_manifest(manifest: RunManifest) -> PairsRequest:
    config = manifest.config
    if config.get("kind") != JOB_KIND:
        raise EnvsimError("this run directory is not a pairs job", hint="pass the --out of an `envsim pairs` run")
    return PairsRequest.model_validate({**config[JOB_KIND], "num_pairs_to_generate": config["num_samples"]})


def pair_of(trace: Trace) -> Example:
    return Example(llm_input=str(trace.attributes["llm_input"]), llm_output=str(trace.attributes["llm_output"]))


class JobCancelled(Exception):
    """The job's cancel marker was found between batches."""


@dataclass
class _Batch:
    index: int
    pairs: list[Example]
    generator_usage: Usage
    responder_usage: list[Usage]
    error: str | None = None


@dataclass
class PairsJobRunner:
    request: PairsRequest
    run: RunDirectory
    models: PairsModels
    max_parallel_batches: int = MAX_PARALLEL_BATCHES
    # Set by a service that stops for a restart: the job is left QUEUED (resumed later), not CANCELLED.
    shutdown: bool = False
    _pairs: list[Example] = field(default_factory=list, init=False)
    _batch_of: list[int] = field(default_factory=list, init=False)
    _messages: list[str] = field(default_factory=list, init=False)

    @property
    def job_id(self) -> str:
        return self.run.path.name

    @property
    def messages(self) -> list[str]:
        return list(self._messages)

    @property
    def path(self) -> Path:
        return self.run.path

    async def run_to_end(self) -> RunState:
        """Generate until N unique pairs (or the batch budget) and finalize; returns the final state.
        Model and validation failures end the job as ERROR (recorded pairs stay)."""
        (self.path / CANCEL_FILE).unlink(missing_ok=True)  # starting or resuming is a fresh decision
        for trace in self.run.traces():
            self._pairs.append(pair_of(trace))
            self._batch_of.append(int(trace.attributes.get("batch", 0)))
        seeds = [s.llm_input for s in self.request.seeds]
        dedupe = Deduplicator([*seeds, *(p.llm_input for p in self._pairs)])
        dedupe.dropped = _previous_report(self.path).duplicates_dropped
        target = self.request.num_pairs_to_generate
        self._log(f"resumed with {len(self._pairs)} of {target} pairs" if self._pairs else f"started: {target} pairs")
        self._status(RunState.RUNNING)
        try:
            await self._generate(dedupe, target)
        except asyncio.CancelledError:
            if self.shutdown:
                self._log("interrupted by a service shutdown; it resumes when the service restarts")
                self._status(RunState.QUEUED)
            else:
                self._finish(RunState.CANCELLED, dedupe, "cancelled; recorded pairs are kept")
            raise
        except JobCancelled:
            return self._finish(RunState.CANCELLED, dedupe, "cancelled; recorded pairs are kept")
        except (ModelError, OutputValidationError) as exc:
            return self._finish(RunState.ERROR, dedupe, f"failed: {exc.message}")
        if len(self._pairs) < target:
            note = f"done with {len(self._pairs)} of {target} pairs: the batch budget ran out on duplicates"
            return self._finish(RunState.DONE, dedupe, note)
        return self._finish(RunState.DONE, dedupe, f"done: {len(self._pairs)} pairs")

    async def _generate(self, dedupe: Deduplicator, target: int) -> None:
        size = self.request.batch_size
        budget = max(2, BATCH_BUDGET_FACTOR * -(-target // size))
        next_batch = max(self._batch_of, default=-1) + 1
        width = self.max_parallel_batches if self.request.run_parallel_batches else 1
        failures = 0
        while len(self._pairs) < target and next_batch < budget:
            if (self.path / CANCEL_FILE).exists():
                raise JobCancelled
            wave = range(next_batch, min(budget, next_batch + width))
            snapshot = list(self._pairs)  # every batch of a wave sees the same pairs: order-independent
            batches = await asyncio.gather(*(self._batch(k, snapshot) for k in wave))
            next_batch = wave.stop
            for batch in batches:  # in batch order, whatever order they finished in
                if batch.error is not None:
                    failures += 1
                    self._log(f"batch {batch.index}: {batch.error}")
                    if failures >= MAX_FAILED_BATCHES:
                        raise OutputValidationError(f"{failures} batches in a row gave no usable reply: {batch.error}")
                    continue
                failures = 0
                self._accept(batch, dedupe, target)
            self._write_report(dedupe)
            self._status(RunState.RUNNING)

    def _accept(self, batch: _Batch, dedupe: Deduplicator, target: int) -> None:
        accepted = dropped = 0
        for pair, responder_usage in zip(batch.pairs, batch.responder_usage, strict=True):
            if len(self._pairs) >= target:
                break
            if not pair.llm_output.strip() or not dedupe.accept(pair.llm_input):
                dropped += 1
                continue
            usage = {RESPONDER_ROLE: responder_usage} if self.request.system_prompt else {}
            if accepted == 0:
                usage[GENERATOR_ROLE] = batch.generator_usage
            self.run.append_trace(self._trace(len(self._pairs), pair, batch.index, usage))
            self._pairs.append(pair)
            self._batch_of.append(batch.index)
            accepted += 1
        self._log(f"batch {batch.index}: {accepted} new pairs, {dropped} dropped ({len(self._pairs)}/{target})")

    async def _batch(self, index: int, known: list[Example]) -> _Batch:
        request = self.request
        settings = settings_for(request.exploration_mode)
        rng = random.Random(f"{request.seed}:{index}")
        shots = _shots(request, known, settings.generated_shot_share, rng)
        inputs_only = request.system_prompt is not None
        prompt = generation_prompt(request, shots, request.batch_size, settings, inputs_only=inputs_only)
        params = GenerationParams(temperature=settings.temperature, top_p=settings.top_p, seed=request.seed + index)
        context = RequestContext(episode_id=f"{self.job_id}/batch-{index}", role=GENERATOR_ROLE)
        output_type = GeneratedInputs if inputs_only else GeneratedPairs
        call = TypedCall(self.models.generator, system=GENERATOR_SYSTEM, output_type=output_type, params=params)
        try:
            result = await call.run(prompt, context=context)
        except OutputValidationError as exc:
            return _Batch(index, [], Usage(), [], error=f"no usable reply ({exc.message})")
        value: Any = result.value
        if not inputs_only:
            pairs = list(value.pairs)[: request.batch_size]
            return _Batch(index, pairs, result.usage, [Usage() for _ in pairs])
        inputs = [text for text in value.inputs if text.strip()][: request.batch_size]
        answers = await asyncio.gather(*(self._respond(text, index) for text in inputs))
        pairs = [Example(llm_input=text, llm_output=answer) for text, (answer, _) in zip(inputs, answers, strict=True)]
        return _Batch(index, pairs, result.usage, [usage for _, usage in answers])

    async def _respond(self, text: str, batch: int) -> tuple[str, Usage]:
        """The application's answer: the response model under the job's system prompt."""
        call = TypedCall(self.models.responder, system=self.request.system_prompt, input_type=str, output_type=str)
        context = RequestContext(episode_id=f"{self.job_id}/batch-{batch}", role=RESPONDER_ROLE)
        try:
            result = await call.run(text, context=context)
        except OutputValidationError:
            return "", Usage()  # an empty answer drops the pair
        return result.value, result.usage

    def _trace(self, index: int, pair: Example, batch: int, usage: dict[str, Usage]) -> Trace:
        messages = [Message.system(self.request.system_prompt)] if self.request.system_prompt else []
        messages += [Message.user(pair.llm_input), Message.assistant(pair.llm_output)]
        return Trace(
            episode_id=f"pair-{index:06d}",
            sample_index=index,
            seed=self.request.seed,
            attributes={
                "llm_input": pair.llm_input,
                "llm_output": pair.llm_output,
                "batch": batch,
                "exploration_mode": self.request.exploration_mode.value,
            },
            conversation_id=PAIR_CONVERSATION,
            messages=messages,
            termination=TerminationReason.GENERATED_PAIR,
            turns=1,
            usage=usage,
        )

    # ------------------------------------------------------------------ status and files

    def _log(self, line: str) -> None:
        self._messages.append(line)
        with (self.path / MESSAGES_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line.replace("\n", " ") + "\n")

    def _status(self, state: RunState) -> None:
        self.run.set_status(state, total=self.request.num_pairs_to_generate, detail=self._messages)

    def _write_report(self, dedupe: Deduplicator) -> DiversityReport:
        report = diversity_report(
            [p.llm_input for p in self._pairs],
            [s.llm_input for s in self.request.seeds],
            duplicates_dropped=dedupe.dropped,
        )
        jsonl.atomic_write_json(self.path / DIVERSITY_FILE, report.model_dump(mode="json"))
        return report

    def _finish(self, state: RunState, dedupe: Deduplicator, note: str) -> RunState:
        report = self._write_report(dedupe)
        self._log(
            f"{note}; distinct-2 {report.distinct_2:.3f} (seeds {report.seed_distinct_2:.3f}), "
            f"similarity to nearest seed: jaccard {report.mean_jaccard_to_nearest_seed:.3f}, "
            f"char-3 cosine {report.mean_char3_cosine_to_nearest_seed:.3f}; {report.duplicates_dropped} duplicates"
        )
        write_pairs_file(self._pairs, self.path / PAIRS_FILE)
        self.run.finalize(state, detail=self._messages)
        return state


def _shots(request: PairsRequest, known: list[Example], generated_share: float, rng: random.Random) -> list[Example]:
    count = request.num_shots
    from_generated = min(len(known), int(count * generated_share))
    shots = rng.sample(request.seeds, min(len(request.seeds), count - from_generated))
    shots += rng.sample(known, from_generated)
    rng.shuffle(shots)
    return shots


def _previous_report(path: Path) -> DiversityReport:
    file = path / DIVERSITY_FILE
    if not file.exists():
        return DiversityReport()
    try:
        return DiversityReport.model_validate_json(file.read_bytes())
    except ValueError:
        return DiversityReport()


def write_pairs_file(pairs: list[Example], path: Path) -> None:
    """withpi's shape: one {"llm_input", "llm_output"} object per line, written atomically."""
    jsonl.atomic_write_bytes(path, (jsonl.dumps_line(p.model_dump(mode="json")) for p in pairs))


def read_messages(path: Path) -> list[str]:
    file = path / MESSAGES_FILE
    return file.read_text(encoding="utf-8").splitlines() if file.exists() else []


def read_diversity(path: Path) -> DiversityReport | None:
    file = path / DIVERSITY_FILE
    if not file.exists():
        return None
    try:
        return DiversityReport.model_validate(json.loads(file.read_bytes()))
    except ValueError:
        return None
