"""`DataSetGenerator` (DeepFabric's): a topic model turned into training examples.

    generator = DataSetGenerator(instructions="...", model_name="openai:gpt-4o-mini", default_batch_size=5,
                                 conversation_type="chain_of_thought", reasoning_style="agent")
    dataset = await generator.create_data_async(num_steps=20, batch_size=5, topic_model=tree)
    async for event in generator.create_data_with_events_async(num_steps=20, topic_model=tree): ...
    generator.print_failure_summary(); dataset.save("train.jsonl")

Each step is one model call for `batch_size` examples about topic paths drawn round robin from the topic
model's leaves; every example is parsed and validated on its own, so a bad one does not sink the others.
Examples are recorded in a run directory like any envsim run (`traces.jsonl`: resumable, `envsim status`,
`envsim export`); a step whose examples are all recorded is not asked again when the run resumes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from envsim.config.models import InferenceConfig, ModelSpec, RemoteParams
from envsim.errors import EnvsimError, ModelError, OutputValidationError
from envsim.messages import ToolSpec
from envsim.models.base import ChatModel, GenerationParams, RequestContext, Usage
from envsim.models.cache import ResponseCache
from envsim.models.stack import ModelPolicies, build_model_stack
from envsim.models.structured import structured_call
from envsim.recording import RunDirectory, RunManifest, RunState
from envsim.recording.trace import EpisodeStatus, TerminationReason, Trace
from envsim.text_similarity import normalized
from envsim.topics.dedup import NearDuplicateFilter, duplicate_topics
from envsim.topics.events import GenerationComplete, GenerationEvent, GenerationStart, StepComplete
from envsim.topics.examples import ConversationType, ReasoningStyle, example_type, format_instructions, to_messages
from envsim.topics.model import TopicModel
from envsim.topics.source import PATH_SEPARATOR

DEFAULT_SYSTEM_PROMPT = "You write realistic, varied, correct training examples for language models."


class DataSetGeneratorError(EnvsimError):
    """A user error in the generator's settings or inputs (bad parameters, unreadable example data)."""


class RateLimit(BaseModel):
    """DeepFabric's rate_limit block, mapped onto envsim's limiter and retry policy."""

    model_config = ConfigDict(extra="forbid")

    max_requests_per_minute: float | None = None
    max_tokens_per_minute: float | None = None
    max_retries: int = 5
    initial_retry_delay: float = 1.0
    max_retry_delay: float = 60.0


class _Batch(BaseModel):
    examples: list[dict[str, Any]]  # validated one by one against the example type


@dataclass
class FailedSample:
    step: int
    index: int  # position within the step's batch
    kind: str  # validation | model_error | duplicate | missing
    error: str
    raw: Any = None
    topic: str | None = None


@dataclass
class GeneratedDataset:
    """The examples, in step order: `samples[i]` = {"messages": [...], "topic": {...}, **fields}."""

    samples: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as out:
            for sample in self.samples:
                out.write(json.dumps(sample, ensure_ascii=False) + "\n")
        return target


class DataSetGenerator:
    def __init__(
        self,
        *,
        instructions: str = "",
        generation_system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        provider: str | None = None,
        model_name: str | None = None,
        model: ChatModel | None = None,
        temperature: float | None = 0.7,
        max_retries: int = 3,
        request_timeout: float = 60.0,
        default_batch_size: int = 5,
        default_num_examples: int = 3,
        example_data: Any = None,
        conversation_type: ConversationType = "basic",
        reasoning_style: ReasoningStyle = "freetext",
        sys_msg: str | None = None,
        tools: list[ToolSpec] | list[dict[str, Any]] | None = None,
        rate_limit: RateLimit | dict[str, Any] | None = None,
        deduplicate: bool = True,
        similarity_threshold: float = 0.85,
        drop_duplicate_topics: bool = False,
        max_concurrent_steps: int = 4,
        run_dir: str | Path | None = None,
    ) -> None:
        if conversation_type not in ("basic", "chain_of_thought"):
            raise DataSetGeneratorError(
                f"conversation_type must be basic or chain_of_thought, got {conversation_type!r}"
            )
        if reasoning_style not in ("freetext", "agent"):
            raise DataSetGeneratorError(f"reasoning_style must be freetext or agent, got {reasoning_style!r}")
        if default_batch_size < 1 or max_retries < 0 or default_num_examples < 0:
            raise DataSetGeneratorError("default_batch_size must be >= 1; max_retries and default_num_examples >= 0")
        self.instructions = instructions
        self.generation_system_prompt = generation_system_prompt
        self.provider = provider
        self.model_name = model_name
        self.temperature = temperature
        self.max_retries = max_retries
        self.request_timeout = request_timeout
        self.default_batch_size = default_batch_size
        self.default_num_examples = default_num_examples
        self.examples = load_example_data(example_data)
        self.conversation_type = conversation_type
        self.reasoning_style = reasoning_style
        self.sys_msg = sys_msg
        self.tools = [t if isinstance(t, ToolSpec) else ToolSpec.model_validate(t) for t in tools or []]
        self.rate_limit = (
            rate_limit if isinstance(rate_limit, RateLimit) else RateLimit.model_validate(rate_limit or {})
        )
        self.deduplicate = deduplicate
        self.similarity_threshold = similarity_threshold
        self.drop_duplicate_topics = drop_duplicate_topics
        self.max_concurrent_steps = max(1, max_concurrent_steps)
        self.run_dir = Path(run_dir) if run_dir is not None else Path("runs") / "dataset_generator"
        self._model = model
        self.failed_samples: list[FailedSample] = []
        self.duplicate_topics: list[tuple[str, int]] = []
        self.usage = Usage()

    # ------------------------------------------------------------------ models

    def _model_string(self, model_name: str | None) -> str:
        name = model_name or self.model_name
        if not name:
            raise DataSetGeneratorError("no model: give model_name (e.g. 'gpt-4o-mini' with provider 'openai')")
        if ":" in name.split("@", 1)[0]:
            return name
        if not self.provider:
            raise DataSetGeneratorError(
                f"model_name {name!r} names no provider",
                hint="set provider (openai, anthropic, ...) or write provider:model",
            )
        return f"{self.provider}:{name}"

    def _build_model(self, model_name: str | None) -> ChatModel:
        if self._model is not None and model_name is None:
            return self._model
        limits = self.rate_limit
        remote = RemoteParams(
            requests_per_minute=limits.max_requests_per_minute,
            tokens_per_minute=limits.max_tokens_per_minute,
            max_retries=limits.max_retries,
            initial_retry_delay=limits.initial_retry_delay,
            max_retry_delay=limits.max_retry_delay,
            connection_timeout=self.request_timeout,
            num_workers=self.max_concurrent_steps,
        )
        config = InferenceConfig(model=ModelSpec(model_name=self._model_string(model_name)), remote_params=remote)
        cache = ResponseCache(self.run_dir.parent / ".envsim_cache")
        policies = ModelPolicies.from_config(config, cache=cache)
        return build_model_stack(config.model, inference_config=config, policies=policies)

    # ------------------------------------------------------------------ the API

    async def create_data_async(
        self,
        num_steps: int = 1,
        batch_size: int | None = None,
        topic_model: TopicModel | None = None,
        model_name: str | None = None,
        sys_msg: str | None = None,
    ) -> GeneratedDataset:
        dataset: GeneratedDataset | None = None
        async for item in self.create_data_with_events_async(num_steps, batch_size, topic_model, model_name, sys_msg):
            if isinstance(item, GeneratedDataset):
                dataset = item
        assert dataset is not None
        return dataset

    def create_data(self, *args: Any, **kwargs: Any) -> GeneratedDataset:
        """Synchronous `create_data_async`."""
        from envsim.event_loop import run_async

        return run_async(self.create_data_async(*args, **kwargs))

    async def create_data_with_events_async(
        self,
        num_steps: int = 1,
        batch_size: int | None = None,
        topic_model: TopicModel | None = None,
        model_name: str | None = None,
        sys_msg: str | None = None,
    ) -> AsyncIterator[GenerationEvent | GeneratedDataset]:
        """Typed progress events (generation_start, step_complete per step, generation_complete), then
        the dataset."""
        size = batch_size or self.default_batch_size
        if num_steps < 1 or size < 1:
            raise DataSetGeneratorError(f"num_steps and batch_size must be >= 1, got {num_steps} and {size}")
        sys_text = sys_msg if sys_msg is not None else self.sys_msg
        paths = topic_model.paths() if topic_model is not None else [[self.instructions or "general knowledge"]]
        self.duplicate_topics = duplicate_topics(paths)
        if self.drop_duplicate_topics and self.duplicate_topics:  # keep the first path of each leaf topic
            seen: set[str] = set()
            paths = [p for p in paths if not (normalized(p[-1]) in seen or seen.add(normalized(p[-1])))]  # type: ignore[func-returns-value]
        self.failed_samples = []
        model = self._build_model(model_name)
        manifest = RunManifest.create(
            self._snapshot(num_steps, size, sys_text, paths), seed=0, models={"generator": model.name}
        )
        yield GenerationStart(total_steps=num_steps, batch_size=size, total_samples=num_steps * size)
        dedupe = NearDuplicateFilter(self.similarity_threshold) if self.deduplicate else None
        try:
            with RunDirectory.open(self.run_dir, manifest=manifest, force=True) as run:
                run.set_status(RunState.RUNNING, total=num_steps * size)
                finished = run.finished_episode_ids()
                done: dict[int, list[Trace]] = {}
                queue: asyncio.Queue[tuple[int, list[Trace]]] = asyncio.Queue()
                gate = asyncio.Semaphore(self.max_concurrent_steps)

                async def one(step: int) -> None:
                    async with gate:
                        ids = [_episode_id(step, i) for i in range(size)]
                        if all(i in finished for i in ids):
                            await queue.put((step, []))
                            return
                        topics = [paths[(step * size + i) % len(paths)] for i in range(size)]
                        traces = await self._step(model, step, topics, sys_text)
                        await queue.put((step, traces))

                tasks = [asyncio.create_task(one(step)) for step in range(num_steps)]
                try:
                    for _ in range(num_steps):
                        step, traces = await queue.get()
                        kept = 0
                        for trace in traces:
                            if trace.status is EpisodeStatus.SUCCESS and dedupe is not None:
                                twin = dedupe.check(trace.messages[1 if sys_text else 0].content or "")
                                if twin is not None:
                                    self._fail(step, trace, "duplicate", "near-duplicate of an earlier example")
                                    trace = trace.model_copy(
                                        update={"status": EpisodeStatus.FAILED, "error": "duplicate"}
                                    )
                            if trace.episode_id not in finished:
                                run.append_trace(trace)
                            kept += trace.status is EpisodeStatus.SUCCESS
                        done[step] = traces
                        failed_here = sum(1 for f in self.failed_samples if f.step == step)
                        yield StepComplete(step=step, samples_generated=kept, failed_in_step=failed_here)
                finally:
                    for task in tasks:
                        task.cancel()
                run.finalize(RunState.DONE)
                dataset = GeneratedDataset([_sample(t) for t in run.traces()])
        finally:
            await model.aclose()
        yield GenerationComplete(total_samples=len(dataset), failed_samples=len(self.failed_samples))
        yield dataset

    # ------------------------------------------------------------------ one step

    async def _step(self, model: ChatModel, step: int, topics: list[list[str]], sys_msg: str | None) -> list[Trace]:
        example = example_type(self.conversation_type, self.reasoning_style)
        prompt = self._prompt(topics, example)
        try:
            result = await structured_call(
                model,
                system=self.generation_system_prompt,
                input=prompt,
                output_type=_Batch,
                context=RequestContext(episode_id=f"gen-step-{step:06d}", role="generator"),
                params=GenerationParams(temperature=self.temperature),
                max_validation_attempts=self.max_retries + 1,
            )
        except (ModelError, OutputValidationError) as exc:
            text = exc.render() if isinstance(exc, EnvsimError) else str(exc)
            return [
                self._failed_trace(step, len(topics), i, topics[i], "model_error", text) for i in range(len(topics))
            ]
        self.usage = self.usage + result.usage
        traces: list[Trace] = []
        for index, topic in enumerate(topics):
            if index >= len(result.value.examples):
                traces.append(
                    self._failed_trace(step, len(topics), index, topic, "missing", "the reply had fewer examples")
                )
                continue
            raw = result.value.examples[index]
            try:
                parsed = example.model_validate(raw)
            except ValidationError as exc:
                problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:3])
                traces.append(self._failed_trace(step, len(topics), index, topic, "validation", problem, raw))
                continue
            traces.append(
                Trace(
                    episode_id=_episode_id(step, index),
                    sample_index=step * len(topics) + index,
                    seed=0,
                    attributes={"topic": {"topic": topic[-1], "path": topic}, **parsed.model_dump(mode="json")},
                    conversation_id="dataset_generator",
                    messages=to_messages(parsed, sys_msg),
                    tools=self.tools,
                    termination=TerminationReason.GENERATED,
                    usage={"generator": result.usage} if index == 0 else {},
                )
            )
        return traces

    def _prompt(self, topics: list[list[str]], example: type[BaseModel]) -> str:
        lines = [self.instructions.strip()] if self.instructions.strip() else []
        lines.append(format_instructions(self.conversation_type, self.reasoning_style, [t.name for t in self.tools]))
        if self.tools:
            lines.append("Tools the assistant can call:\n" + json.dumps([t.to_openai() for t in self.tools], indent=1))
        shots = self.examples[: self.default_num_examples]
        if shots:
            lines.append(
                "Examples of the style wanted:\n" + "\n".join(json.dumps(s, ensure_ascii=False) for s in shots)
            )
        numbered = "\n".join(f"{i + 1}. {PATH_SEPARATOR.join(t)}" for i, t in enumerate(topics))
        lines.append(
            f'Write {len(topics)} examples, one per topic below, in this order, as {{"examples": [...]}}; '
            f"each example is a JSON object matching:\n{json.dumps(example.model_json_schema())}\n\nTopics:\n{numbered}"
        )
        return "\n\n".join(lines)

    def _failed_trace(
        self, step: int, size: int, index: int, topic: list[str], kind: str, error: str, raw: Any = None
    ) -> Trace:
        self.failed_samples.append(FailedSample(step, index, kind, error, raw, PATH_SEPARATOR.join(topic)))
        return Trace(
            episode_id=_episode_id(step, index),
            sample_index=step * size + index,
            seed=0,
            attributes={"topic": {"topic": topic[-1], "path": topic}, "raw": raw},
            conversation_id="dataset_generator",
            status=EpisodeStatus.FAILED,
            termination=TerminationReason.GENERATED,
            error=f"{kind}: {error}",
        )

    def _fail(self, step: int, trace: Trace, kind: str, error: str) -> None:
        topic = trace.attributes.get("topic", {}).get("path", [])
        self.failed_samples.append(
            FailedSample(step, trace.sample_index, kind, error, None, PATH_SEPARATOR.join(topic))
        )

    def _snapshot(self, num_steps: int, size: int, sys_msg: str | None, paths: list[list[str]]) -> dict[str, Any]:
        return {
            "generator": "DataSetGenerator",
            "instructions": self.instructions,
            "generation_system_prompt": self.generation_system_prompt,
            "conversation_type": self.conversation_type,
            "reasoning_style": self.reasoning_style,
            "sys_msg": sys_msg,
            "num_steps": num_steps,
            "batch_size": size,
            "topics": len(paths),
        }

    # ------------------------------------------------------------------ failures and saving

    def summarize_failures(self) -> dict[str, Any]:
        by_type: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        for failure in self.failed_samples:
            by_type[failure.kind] = by_type.get(failure.kind, 0) + 1
            examples.setdefault(failure.kind, [])
            if len(examples[failure.kind]) < 3:
                examples[failure.kind].append(f"step {failure.step} #{failure.index}: {failure.error[:200]}")
        return {"total_failures": len(self.failed_samples), "failure_types": by_type, "examples": examples}

    def print_failure_summary(self) -> None:
        from rich.console import Console
        from rich.table import Table

        summary = self.summarize_failures()
        table = Table(title=f"failed samples: {summary['total_failures']}", title_justify="left")
        table.add_column("type")
        table.add_column("count", justify="right")
        table.add_column("examples")
        for kind, count in sorted(summary["failure_types"].items()):
            table.add_row(kind, str(count), "\n".join(summary["examples"][kind]))
        Console().print(table)

    def save_dataset(self, path: str | Path) -> Path:
        """The recorded examples (this run directory's successful traces) as JSONL."""
        with RunDirectory.open(self.run_dir, manifest=None) as run:
            return GeneratedDataset([_sample(t) for t in run.traces()]).save(path)


def load_example_data(example_data: Any) -> list[dict[str, Any]]:
    """Few-shot examples from a local JSON/JSONL file, a `datasets.Dataset`, or a list of dicts."""
    if example_data is None:
        return []
    if isinstance(example_data, str | Path):
        path = Path(example_data)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DataSetGeneratorError(f"cannot read example_data {path}: {exc.strerror}") from None
        try:
            rows = (
                json.loads(text)
                if path.suffix == ".json"
                else [json.loads(line) for line in text.splitlines() if line.strip()]
            )
        except ValueError as exc:
            raise DataSetGeneratorError(f"example_data {path} is not JSON/JSONL: {exc}") from None
        return [r for r in rows if isinstance(r, dict)]
    if hasattr(example_data, "to_list"):  # a datasets.Dataset
        return list(example_data.to_list())
    if isinstance(example_data, list) and all(isinstance(r, dict) for r in example_data):
        return list(example_data)
    raise DataSetGeneratorError("example_data must be a file path, a datasets.Dataset or a list of dicts")


def _episode_id(step: int, index: int) -> str:
    return f"gen-{step:06d}-{index:03d}"


def _sample(trace: Trace) -> dict[str, Any]:
    sample = {"messages": [m.model_dump(exclude_none=True) for m in trace.messages]}
    sample.update(trace.attributes)
    return sample


__all__ = ["DataSetGenerator", "DataSetGeneratorError", "FailedSample", "GeneratedDataset", "RateLimit"]
