"""Write tau2's retail tasks as an envsim scenario catalog, to run them live and score them like tau2.

    python environments/tau2_retail/tau2_scenarios.py --out runs/tau2/tau2_tasks.yaml [--policy policy.md]
    python -m envsim run runs/tau2/tau2_tasks.yaml --model openai:gpt-4o-mini --trials 4 --out runs/tau2/live

One unscripted scenario per task: the simulated user gets the task's user instructions (reason for the
call, what they know and do not know, how they behave); the expectations are tau2's database check (the
final state must equal the state the task's gold actions leave: `expect.state_hash`) and tau2's
communicate check (`communicate_info` must appear in the agent's messages). tau2's natural-language
assertions need an LLM judge and are left out. The catalog holds tau2's task texts, so write it outside
the repository (the data must not be copied into the project).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from envsim.environments.state import canonical_sha256

HERE = Path(__file__).resolve().parent
DATA_ENV = "ENVSIM_TAU2_RETAIL_DIR"
ENV_ID = "tau2_retail"
USER_INSTRUCTION = (
    "You are a customer of an online shop, talking to its customer service agent in a chat. "
    "Why you are contacting them: {reason_for_call}\n"
    "What you know: {known_info}\nWhat you do not know: {unknown_info}\n"
    "How you behave: {task_instructions}\n"
    "Give information only when the agent asks for it, one step at a time, and never invent details "
    "beyond the above. When your request is handled, or cannot be, end the conversation."
)
DEFAULT_POLICY = (
    "You are a retail customer service agent. Authenticate the user (email, or name and zip code) before "
    "anything else, act only on their own orders, explain every change and get an explicit yes before any "
    "action that changes the database, make one tool call at a time, and transfer to a human agent only "
    "when the request cannot be handled with your tools."
)


def data_dir(explicit: Path | None) -> Path:
    """The catalog's search order: --data, $ENVSIM_TAU2_RETAIL_DIR, <project root>/../shared/..."""
    candidates = [explicit, Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None]
    candidates.append(HERE.parents[1].parent / "shared" / "datasets" / "tau2-retail")
    for candidate in candidates:
        if candidate is not None and (candidate / "tasks.json").is_file() and (candidate / "db.json").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates if c is not None)
    raise SystemExit(f"tau2 retail data (db.json, tasks.json) not found in: {tried}; set {DATA_ENV} or pass --data")


def gold_state(db: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """`db` after the task's gold actions, as tau2's evaluator builds its gold database: each action in
    turn, a failing one skipped. Mutates and returns `db`."""
    import tau2_retail_tools as tools

    from envsim.environments.signature import function_signature

    for action in task["evaluation_criteria"].get("actions") or []:
        fn = getattr(tools, action["name"])
        signature = function_signature(fn)
        kwargs = dict(action["arguments"])
        if signature.wants_state:
            kwargs[signature.state_parameter] = db
        try:
            fn(**kwargs)
        except Exception:  # tau2 logs and skips a failing gold action; so does its gold database
            continue
    return db


def scenario(task: dict[str, Any], raw_db: str) -> dict[str, Any]:
    instructions = task["user_scenario"]["instructions"]
    criteria = task["evaluation_criteria"]
    expect: dict[str, Any] = {"state_hash": {ENV_ID: canonical_sha256(gold_state(json.loads(raw_db), task))}}
    if criteria.get("communicate_info"):
        expect["communicates"] = list(criteria["communicate_info"])
    return {
        "id": f"tau2-retail-{task['id']}",
        "description": f"tau2-bench retail task {task['id']}",
        "attributes": {
            key: instructions.get(key) or "(nothing in particular)"
            for key in ("reason_for_call", "known_info", "unknown_info", "task_instructions")
        },
        "expect": expect,
    }


def _reference(target: Path, directory: Path) -> str:
    """`target` relative to `directory` when both are in this project, else absolute."""
    project = HERE.parents[1]
    return os.path.relpath(target, directory) if directory.is_relative_to(project) else str(target)


def catalog(tasks: list[dict[str, Any]], raw_db: str, out: Path, policy: str) -> dict[str, Any]:
    escaped = policy.replace("{", "{{").replace("}", "}}")  # the policy is literal text, not a template
    return {
        "environment_config_path": _reference(HERE / "tau2_retail.yaml", out.resolve().parent),
        "seed": 0,
        "multiturn": {
            "id": "tau2_retail",
            "min_turns": 1,
            "max_turns": 30,
            "max_tool_rounds": 10,
            "available_environments": [ENV_ID],
            "output_system_prompt": escaped,
            "role_instruction_messages": {"USER": USER_INSTRUCTION, "ASSISTANT": escaped},
        },
        "scenarios": [scenario(task, raw_db) for task in tasks],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the scenario catalog to write (outside the repo)")
    parser.add_argument("--data", type=Path, help=f"directory with db.json and tasks.json (default: ${DATA_ENV})")
    parser.add_argument("--policy", type=Path, help="tau2's retail policy.md, the agent's instruction")
    parser.add_argument("--tasks", help="comma-separated task ids (default: all)")
    args = parser.parse_args(argv)
    data = data_dir(args.data)
    tasks = json.loads((data / "tasks.json").read_text(encoding="utf-8"))
    if args.tasks:
        wanted = set(args.tasks.split(","))
        tasks = [t for t in tasks if t["id"] in wanted]
    policy = args.policy.read_text(encoding="utf-8") if args.policy else DEFAULT_POLICY
    raw_db = (data / "db.json").read_text(encoding="utf-8")
    document = catalog(tasks, raw_db, args.out, policy)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# tau2-bench retail tasks ({len(tasks)}) from {data}; written by {Path(__file__).name}.\n"
    args.out.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110))
    print(f"wrote {args.out}: {len(tasks)} scenarios")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
