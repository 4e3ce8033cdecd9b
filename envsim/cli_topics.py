"""`envsim topics build|show`: topic trees and graphs (see envsim.topics and docs/topics.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.tree import Tree

from envsim.errors import EnvsimError
from envsim.event_loop import run_async

topics_app = typer.Typer(
    help="Topic trees and graphs: build a config's topic model, or show a topic file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _fail(exc: EnvsimError) -> None:
    err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
    raise typer.Exit(1)


@topics_app.command()
def build(
    config: str = typer.Argument(..., help="A config with strategy_params.topic_tree or topic_graph."),
    model: str | None = typer.Option(None, "--model", help="Build with this model instead of the config's."),
) -> None:
    """Build (or resume) the config's topic models and save them at their `save_as` paths."""
    from envsim.config.loader import load_config
    from envsim.models.stack import build_role_models
    from envsim.topics.build import declared_topic_models, ensure_topic_models, printing_events

    async def go() -> list[object]:
        cfg = load_config(config)
        if not declared_topic_models(cfg):
            raise EnvsimError(
                f"{config} declares no topic model",
                hint="add strategy_params.topic_tree (or topic_graph) with topic_prompt, degree, depth and save_as",
            )
        base_dir = Path(cfg.source_path).parent if cfg.source_path else Path.cwd()
        models = build_role_models(cfg.inference_config, base_dir=base_dir, model_override=model)
        try:
            return await ensure_topic_models(
                cfg, models["attribute"], base_dir, on_event=printing_events(err_console.print)
            )
        finally:
            await models.aclose()

    try:
        built = run_async(go())
    except EnvsimError as exc:
        _fail(exc)
    for topics in built:
        console.print(f"{topics.kind}: {len(topics.nodes())} topics, {len(topics.leaves())} leaf paths")  # type: ignore[attr-defined]


@topics_app.command()
def show(
    target: str = typer.Argument(..., help="A topic file (.jsonl tree, .json graph) or a config declaring one."),
    paths: bool = typer.Option(False, "--paths", help="Print one root-to-leaf path per line instead of a tree."),
) -> None:
    """Show a topic model: its tree (cross-links of a graph marked), or its leaf paths."""
    from envsim.topics.graph import TopicGraph
    from envsim.topics.model import load_topic_model

    try:
        file = Path(target)
        if file.suffix in (".yaml", ".yml"):
            from envsim.config.loader import load_config
            from envsim.topics.build import declared_topic_models

            cfg = load_config(target)
            sections = declared_topic_models(cfg)
            if not sections:
                raise EnvsimError(f"{target} declares no topic model")
            file = file.parent / sections[0][1].save_as
        topics = load_topic_model(file)
    except EnvsimError as exc:
        _fail(exc)
    if paths:
        for path in topics.paths():
            console.print(" -> ".join(path), highlight=False, markup=False)
        return
    links = dict.fromkeys(topics.graph.nodes, ())
    if isinstance(topics, TopicGraph):
        for source, target_id in topics.links():
            links[source] = (*links[source], topics.node(target_id).topic)  # type: ignore[assignment]

    def label(node_id: int) -> str:
        node = topics.node(node_id)
        related = f"  [dim](related: {', '.join(links[node_id])})[/]" if links[node_id] else ""
        pending = "  [yellow](not expanded yet)[/]" if node.depth < topics.depth and not node.expanded else ""
        return node.topic.replace("[", "\\[") + related + pending

    root = Tree(label(0))
    stack = [(0, root)]
    while stack:
        node_id, branch = stack.pop()
        stack.extend((child, branch.add(label(child))) for child in topics.children(node_id))
    console.print(root)
    console.print(f"{len(topics.nodes())} topics, {len(topics.leaves())} leaves, complete: {topics.complete}")


def generate(
    config: str = typer.Argument(..., help="A DataSetGenerator config (topic_tree/topic_graph, data_engine, dataset)."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<config name>)."),
    model: str | None = typer.Option(None, "--model", help="Use this model for topics and examples."),
) -> None:
    """Build the topic model and generate a dataset from it (DeepFabric's `generate`); resumable."""
    from envsim.models.stack import build_model_stack
    from envsim.topics.events import GenerationComplete, GenerationStart, StepComplete
    from envsim.topics.generator import DataSetGenerator, GeneratedDataset
    from envsim.topics.generator_config import load_generator_config
    from envsim.topics.graph import TopicGraph
    from envsim.topics.model import load_topic_model
    from envsim.topics.tree import TopicTree

    async def go() -> tuple[GeneratedDataset, DataSetGenerator]:
        cfg = load_generator_config(config)
        engine = cfg.data_engine
        model_string = cfg.model_string(model)
        if not model_string:
            raise EnvsimError("no model", hint="set data_engine.model (e.g. openai:gpt-4o-mini) or pass --model")
        topics = None
        section = cfg.topic_tree or cfg.topic_graph
        if section is not None:
            target = cfg.base_dir / section.save_as
            kind: type[TopicTree] = TopicGraph if cfg.topic_graph else TopicTree
            loaded = load_topic_model(target) if target.is_file() else None
            topics = (
                loaded
                if isinstance(loaded, kind)
                else kind(section.topic_prompt, degree=section.degree, depth=section.depth)
            )
            if not topics.complete:
                builder = build_model_stack(model_string)
                try:
                    await topics.build(builder, system_prompt=section.topic_system_prompt, save_to=str(target))
                finally:
                    await builder.aclose()
        run_dir = Path(out) if out else Path("runs") / Path(config).stem
        generator = DataSetGenerator(
            instructions=engine.instructions,
            generation_system_prompt=engine.generation_system_prompt or cfg.dataset_system_prompt or "",
            model_name=model_string,
            temperature=engine.temperature,
            max_retries=engine.max_retries,
            request_timeout=engine.request_timeout,
            default_batch_size=engine.default_batch_size,
            default_num_examples=engine.default_num_examples,
            example_data=(cfg.base_dir / engine.example_data)
            if isinstance(engine.example_data, str)
            else engine.example_data,
            conversation_type=engine.conversation_type,
            reasoning_style=engine.reasoning_style,
            sys_msg=cfg.dataset.creation.sys_msg or engine.sys_msg,
            tools=engine.tools,
            rate_limit=engine.rate_limit,
            deduplicate=engine.deduplicate,
            similarity_threshold=engine.similarity_threshold,
            run_dir=run_dir,
        )
        dataset = None
        async for item in generator.create_data_with_events_async(
            num_steps=cfg.dataset.creation.num_steps, batch_size=cfg.dataset.creation.batch_size, topic_model=topics
        ):
            if isinstance(item, GenerationStart):
                err_console.print(f"generating {item.total_samples} examples in {item.total_steps} step(s)")
            elif isinstance(item, StepComplete):
                err_console.print(f"step {item.step}: {item.samples_generated} generated, {item.failed_in_step} failed")
            elif isinstance(item, GenerationComplete):
                err_console.print(f"done: {item.total_samples} examples, {item.failed_samples} failed")
            else:
                dataset = item
        assert dataset is not None
        if cfg.dataset.save_as:
            dataset.save(cfg.base_dir / cfg.dataset.save_as)
        return dataset, generator

    try:
        dataset, generator = run_async(go())
    except EnvsimError as exc:
        _fail(exc)
    if generator.failed_samples:
        generator.print_failure_summary()
    if generator.duplicate_topics:
        console.print(f"{len(generator.duplicate_topics)} leaf topic(s) occur under more than one path")
    console.print(f"{len(dataset)} examples in {generator.run_dir}")
