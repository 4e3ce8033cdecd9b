"""What envsim does differently from `oumi synth` with a given config: one line per difference, printed
by `envsim validate` (never silently). Reads both the file as written (which spelling was used) and the
loaded config (what it means).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envsim.config.models import (
    LOCAL_ENGINE_GENERATION_KEYS,
    OUMI_LOCAL_MODEL_KEYS,
    EnvironmentType,
    SynthConfig,
    TransformationType,
)
from envsim.config.yaml_source import read_yaml
from envsim.errors import ConfigError
from envsim.simulation.runtime_placeholders import uses_current_turn

ENVS = "environment_config.environments"


def oumi_differences(config: SynthConfig) -> list[str]:
    raw = _raw(config.source_path)
    lines: list[str] = []
    lines += _environment_lines(config, raw)
    lines += _conversation_lines(config, raw)
    lines += _attribute_lines(config)
    lines += _chat_spelling_lines(raw)
    lines += _inference_lines(config, raw)
    return lines


def _raw(source: str | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        data = read_yaml(Path(source)).data
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        else:
            data = data.get(key) if isinstance(data, dict) else None
    return data


def _environment_lines(config: SynthConfig, raw: dict[str, Any]) -> list[str]:
    catalog = config.environment_config
    if catalog is None:
        return []
    lines = []
    raw_envs = _get(raw, "environment_config", "environments")
    for i, env in enumerate(catalog.environments):
        where = f"{ENVS}[{i}] ({env.id})"
        written = _get(raw_envs, i)
        if isinstance(written, dict) and ("env_type" in written or "env_kwargs" in written):
            lines.append(
                f"{where}: oumi's spelling (env_type, env_kwargs); envsim's native one is type, system_prompt, "
                "state_params, cache_by_input, per-tool deterministic_outputs, schema_sql/seed_sql (both work)"
            )
        elif isinstance(written, dict) and "tool_persona" in written:
            lines.append(f"{where}: tool_persona (oumi's guide) is envsim's system_prompt (both work)")
        if env.type is EnvironmentType.DATABASE:
            lines.append(
                f"{where}: each conversation works on an in-memory copy of the database (oumi: a rollback-only "
                "session); every change is recorded as a JSON Patch of /tables/<table>/<primary key>"
            )
        if any(tool.executor for tool in env.tools) and env.type is EnvironmentType.DATABASE:
            lines.append(
                f"{where}: executor modules also load from an extra_deps.txt next to the config (oumi reads only "
                "$OUMI_EXTRA_DEPS_FILE); an executor's exception is a tool error message to the assistant"
            )
        elif any(tool.executor for tool in env.tools):
            lines.append(
                f"{where}: executor modules also load from an extra_deps.txt next to the config (oumi reads only "
                "$OUMI_EXTRA_DEPS_FILE); executors run as envsim's python tools do, on a worker thread with a "
                f"{env.timeout_s:g} s timeout (timeout_s); an exception is a tool error to the assistant, as in oumi, "
                "but an output or state change that breaks the tool's contract (output_schema, read_only, "
                "state_schema) is an infrastructure error, which keeps the episode out of the dataset (oumi: a "
                "tool error)"
            )
        if env.grounding is not None:
            lines.append(f"{where}.grounding: the facts go to the planner and to the user simulator (oumi: planner)")
            if env.grounding.seed is None:
                lines.append(
                    f"{where}.grounding.seed is unset: envsim draws facts from the episode seed, reproducibly "
                    "(oumi: OS entropy)"
                )
    return lines


def _conversation_lines(config: SynthConfig, raw: dict[str, Any]) -> list[str]:
    lines = []
    raw_mts = _get(raw, "strategy_params", "multiturn_attributes")
    for i, mt in enumerate(config.strategy_params.multiturn_attributes):
        where = f"strategy_params.multiturn_attributes[{i}] ({mt.id})"
        written = _get(raw_mts, i) or {}
        if "max_consecutive_tool_turns" in written:
            lines.append(
                f"{where}.max_consecutive_tool_turns: oumi's name for envsim's max_tool_rounds; at the limit both "
                "ask once for a final answer, but if the model still calls tools envsim ends the episode "
                "(tool_round_limit, left out of the dataset) where oumi keeps the unanswered calls"
            )
        elif "max_tool_rounds" not in written and _has_tools(config):
            lines.append(f"{where}: max_tool_rounds defaults to 5 in envsim (oumi's max_consecutive_tool_turns: 50)")
        if any(uses_current_turn(text) for text in mt.role_instruction_messages.values()):
            lines.append(
                f"{where}: {{current_turn}} in role_instruction_messages is filled per turn as in oumi; the planner "
                "sees the instructions as turn 1 (oumi's in-process planner fails on it: no value)"
            )
        lines.append(
            f"{where}: {mt.id}_plan holds envsim's plan JSON (num_turns, turns, notes) as a string (oumi: turns); "
            "failed conversations are left out of output_path (oumi drops those with empty messages)"
        )
    return lines


def _chat_spelling_lines(raw: dict[str, Any]) -> list[str]:
    lines = []
    transforms = _get(raw, "strategy_params", "transformed_attributes")
    for i, attr in enumerate(transforms if isinstance(transforms, list) else []):
        if isinstance(_get(attr, "transformation_strategy", "chat_transform"), dict):
            lines.append(
                f"strategy_params.transformed_attributes[{i}].transformation_strategy.chat_transform: oumi's "
                "{messages: [...]} form; envsim's native one is the bare list of messages (both work)"
            )
    return lines


def _has_tools(config: SynthConfig) -> bool:
    catalog = config.environment_config
    return catalog is not None and any(env.tools for env in catalog.environments)


def _attribute_lines(config: SynthConfig) -> list[str]:
    params = config.strategy_params
    lines = []
    for i, attr in enumerate(params.transformed_attributes):
        strategy = attr.transformation_strategy
        chat = strategy.chat_transform
        if strategy.type is TransformationType.CHAT and chat is not None and chat.conversation_id is None:
            lines.append(
                f"strategy_params.transformed_attributes[{i}] ({attr.id}): the conversation_id is "
                f"'{attr.id}-<uuid>' derived from the sample (oumi: a random uuid4)"
            )
    declared = _declared_ids(config)
    if declared is not None:
        for i, name in enumerate(params.passthrough_attributes or []):
            if name.split("[", 1)[0] not in declared:
                lines.append(
                    f"strategy_params.passthrough_attributes[{i}]: '{name}' names no attribute; it is ignored, "
                    "as oumi does (a typo?)"
                )
    relative = [s.path for s in (*params.input_data, *params.input_documents) if not s.path.startswith(("/", "hf:"))]
    if relative:
        lines.append(
            f"input paths ({', '.join(relative[:3])}) resolve against the config's directory (oumi: the "
            "working directory)"
        )
    for i, docs in enumerate(params.input_documents):
        seg = docs.segmentation_params
        where = f"strategy_params.input_documents[{i}].segmentation_params"
        if seg is not None and seg.segmentation_strategy is None:
            lines.append(
                f"{where}: without segmentation_strategy envsim cuts characters (oumi: TOKENS with "
                "openai-community/gpt2); set segmentation_strategy: TOKENS to cut tokens"
            )
        elif seg is not None and seg.tokenizer is None:
            lines.append(f"{where}: tokenizer defaults to openai-community/gpt2, read from the local cache first")
    return lines


def _declared_ids(config: SynthConfig) -> set[str] | None:
    """Every attribute id the config declares; None when a data file's columns could add more."""
    params = config.strategy_params
    if any(not d.attribute_map for d in params.input_data):
        return None
    ids: set[str] = set()
    for data in params.input_data:
        ids.update((data.attribute_map or {}).values())
        if data.id:
            ids.add(data.id)
    for examples in params.input_examples:
        ids.update(key for row in examples.examples for key in row)
        if examples.id:
            ids.add(examples.id)
    for docs in params.input_documents:
        ids.add(docs.id)
        if docs.segmentation_params is not None:
            ids.add(docs.segmentation_params.id)
    ids.update(a.id for a in params.sampled_attributes)
    for generated in params.generated_attributes:
        ids.add(generated.id)
        if generated.postprocessing_params is not None:
            ids.add(generated.postprocessing_params.id)
    ids.update(a.id for a in params.transformed_attributes)
    for mt in params.multiturn_attributes:
        ids.update((mt.id, f"{mt.id}_plan"))
    return ids


def _inference_lines(config: SynthConfig, raw: dict[str, Any]) -> list[str]:
    remote = config.inference_config.remote_params
    written = _get(raw, "inference_config", "remote_params") or {}
    where = "inference_config.remote_params"
    lines = []
    if "num_workers" not in written:
        lines.append(f"{where}.num_workers defaults to 16 in envsim (oumi: 1)")
    if remote.api_url:
        lines.append(f"{where}.api_url: used as model.base_url ({config.inference_config.model.base_url})")
    if written.get("use_adaptive_concurrency") is False:
        lines.append(f"{where}.use_adaptive_concurrency: false keeps concurrency at num_workers")
    elif "use_adaptive_concurrency" in written or "num_workers" in written:
        lines.append(f"{where}: concurrency adapts (AIMD on 429s and errors) up to num_workers, like oumi's")
    if "input_tokens_per_minute" in written or "output_tokens_per_minute" in written:
        lines.append(f"{where}: input/output_tokens_per_minute are summed into one tokens_per_minute budget")
    for key, what in (("user_id", "accepted, not sent"), ("batch_completion_window", "accepted, not used")):
        if key in written:
            lines.append(f"{where}.{key}: {what}")
    lines += _generation_and_model_lines(raw)
    if not config.output_path:
        lines.append(
            "output_path is unset: `envsim run` writes only the run directory; `envsim synth` names a file "
            "envsim_synth_results_<time>.jsonl (oumi: oumi_synth_results_<time>.jsonl)"
        )
    return lines


def _generation_and_model_lines(raw: dict[str, Any]) -> list[str]:
    lines = []
    generation = _get(raw, "inference_config", "generation") or {}
    local = [key for key in LOCAL_ENGINE_GENERATION_KEYS if key in generation]
    if local:
        lines.append(
            f"inference_config.generation: {', '.join(local)} are read by oumi's in-process engines only; "
            "envsim talks to servers and ignores them, as oumi's remote engines do"
        )
    if generation.get("guided_decoding") is not None:
        lines.append(
            "inference_config.generation.guided_decoding is not applied to every call (oumi: every turn); "
            "envsim asks for structured output where it needs it (planner, simulated tools, output_schema)"
        )
    model = _get(raw, "inference_config", "model") or {}
    local = [key for key in OUMI_LOCAL_MODEL_KEYS if key in model]
    if local:
        lines.append(
            f"inference_config.model: {', '.join(local)} are read by oumi's in-process engines only (loading "
            "weights and a tokenizer); envsim sends model_name to a server and ignores them"
        )
    if _get(raw, "inference_config", "progress_path") is not None:
        lines.append(
            "inference_config.progress_path: accepted, not written; the run directory's status.json "
            "has the progress (`envsim status`)"
        )
    return lines
