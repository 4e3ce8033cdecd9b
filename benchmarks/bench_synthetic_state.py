"""Synthetic stateful steps and trace sizes on tau2-bench's retail database, at 1x and 16x its size.

    python benchmarks/bench_synthetic_state.py [--scales 1,16] [--budget 6000]

The shipped retail catalog (environments/retail/retail.yaml) is turned into a *synthetic* environment (no
handlers: a model plays every tool) over tau2's retail DB (`<project root>/../shared/datasets/tau2-retail/
db.json`, read in place, never copied), scaled by duplicating users and orders under new ids. The mock
model plays the tools offline; a write step returns a real patch. For each scale it prints, per step:
prompt tokens (characters / 4, the estimate the budget uses, and the mock's own count), the share of the
prompt that is the stable, cacheable prefix (the system message: persona, every tool contract, the state
schema), and envsim's own time for the step; then the bytes of one episode's trace line in a run
directory. Targets: prompt tokens <= the budget at every scale; trace bytes independent of the scale.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from envsim.config.loader import load_environment_catalog  # noqa: E402
from envsim.config.models import EnvironmentType  # noqa: E402
from envsim.environments import EnvironmentSet  # noqa: E402
from envsim.environments.state_view_auto import estimate_tokens  # noqa: E402
from envsim.messages import Message, ToolCall  # noqa: E402
from envsim.models.base import ChatModel, ModelRequest, ModelResponse  # noqa: E402
from envsim.models.mock import MockModel  # noqa: E402
from envsim.recording import RunDirectory, RunManifest  # noqa: E402
from envsim.recording.run_dir import TRACES_FILE  # noqa: E402
from envsim.recording.trace import StepRecord, TerminationReason, Trace  # noqa: E402

_DB_RELATIVE = Path("shared") / "datasets" / "tau2-retail" / "db.json"
# `<project root>/../shared/...`; from a git worktree nested deeper (e.g. /work/wt/<name>), the nearest
# ancestor that has it.
DB = next((p / _DB_RELATIVE for p in ROOT.parents if (p / _DB_RELATIVE).exists()), ROOT.parent / _DB_RELATIVE)
CATALOG = ROOT / "environments" / "retail" / "retail.yaml"


def scaled(db: dict[str, Any], factor: int) -> dict[str, Any]:
    """`db` with its users and orders duplicated `factor - 1` times under new ids (references kept consistent)."""
    state = copy.deepcopy(db)
    for copy_index in range(1, factor):
        for user_id, user in db["users"].items():
            new_user = copy.deepcopy(user)
            new_user["user_id"] = f"{user_id}_{copy_index}"
            new_user["orders"] = [_order_id(o, copy_index) for o in user["orders"]]
            state["users"][new_user["user_id"]] = new_user
        for order_id, order in db["orders"].items():
            new_order = copy.deepcopy(order)
            new_order["order_id"] = _order_id(order_id, copy_index)
            new_order["user_id"] = f"{order['user_id']}_{copy_index}"
            state["orders"][new_order["order_id"]] = new_order
    return state


def _order_id(order_id: str, copy_index: int) -> str:
    return f"#W{copy_index:02d}{order_id[2:]}"  # keeps the "#W<digits>" shape the schema asks for


class BenchModel(ChatModel):
    """The mock model for every tool, except that cancelling returns the real change as a patch."""

    name = "bench"

    def __init__(self, state: dict[str, Any]) -> None:
        self.mock = MockModel("bench")
        self.state = state
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        user = request.messages[-1].content or ""
        if user.startswith("Tool call: `cancel_pending_order`"):
            arguments = json.loads(user.rsplit("Call arguments:\n", 1)[1])
            order = copy.deepcopy(self.state["orders"][arguments["order_id"]])
            order["status"] = "cancelled"
            order["cancel_reason"] = arguments["reason"]
            patch = [
                {"op": "replace", "path": f"/orders/{arguments['order_id']}/status", "value": "cancelled"},
                {"op": "add", "path": f"/orders/{arguments['order_id']}/cancel_reason", "value": arguments["reason"]},
            ]
            text = json.dumps({"output": order, "patch": patch})
            return ModelResponse(message=Message.assistant(text), model=self.name)
        return self.mock.reply(request)


def synthetic_retail(state: dict[str, Any], budget: int) -> Any:
    catalog = load_environment_catalog(CATALOG)
    (retail,) = catalog.environments
    tools = [tool.model_copy(update={"handler": None}) for tool in retail.tools]
    state_params = retail.state_params.model_copy(update={"initial_state": state})  # type: ignore[union-attr]
    return retail.model_copy(
        update={
            "type": EnvironmentType.SYNTHETIC,
            "tools": tools,
            "state_params": state_params,
            "prompt_token_budget": budget,
        }
    )


async def measure(factor: int, db: dict[str, Any], budget: int, work: Path) -> dict[str, Any]:
    state = scaled(db, factor)
    model = BenchModel(state)
    started = time.perf_counter()
    envs = EnvironmentSet.build([synthetic_retail(state, budget)], model=model)
    build_s = time.perf_counter() - started
    # As worker processes do: the long-lived state out of the collector's way, so per-step times measure
    # envsim, not full collections walking millions of state objects.
    gc.collect()
    gc.freeze()
    user_id = next(iter(db["users"]))
    pending = next(o for o, order in db["orders"].items() if order["status"] == "pending")
    calls = [
        ("get_user_details", {"user_id": user_id}),
        ("get_order_details", {"order_id": db["users"][user_id]["orders"][0]}),
        ("get_order_details", {"order_id": _order_id(pending, factor - 1) if factor > 1 else pending}),
        ("cancel_pending_order", {"order_id": pending, "reason": "no longer needed"}),
    ]
    rows = []
    steps = []
    for index, (tool, arguments) in enumerate(calls):
        before = len(model.requests)
        started = time.perf_counter()
        result = await envs.step(ToolCall.make(tool, arguments, id=f"c{index}"))
        elapsed = time.perf_counter() - started
        request = model.requests[before]
        system = estimate_tokens(request.messages[0].content or "")
        total = sum(estimate_tokens(m.content or "") for m in request.messages)
        rows.append(
            {
                "tool": tool,
                "ok": result.ok,
                "prompt_tokens": total,
                "mock_input_tokens": result.usage.input_tokens if result.usage else 0,
                "stable_share": system / total,
                "shown": len(result.state_view or []),
                "step_ms": elapsed * 1000,
            }
        )
        steps.append(
            StepRecord(
                turn=1,
                round=index + 1,
                environment=result.environment,
                tool=tool,
                call_id=result.call_id,
                arguments=result.arguments,
                output=result.output,
                error=result.error,
                patch=result.patch,
                state_hash=result.state_hash,
                state_view=result.state_view,
            )
        )
    trace = Trace(
        episode_id="bench-episode",
        seed=0,
        termination=TerminationReason.SCRIPT_END,
        steps=steps,
        initial_state={"retail": state},
        final_state=envs.states(),
    )
    manifest = RunManifest.create({"bench": factor}, seed=0, models={"environment": "bench"}, command_line=[])
    run_path = work / f"run-{factor}x"
    with RunDirectory.open(run_path, manifest=manifest) as run:
        run.append_trace(trace)
    state_bytes = len(json.dumps(state, separators=(",", ":")))
    gc.unfreeze()
    return {
        "factor": factor,
        "state_bytes": state_bytes,
        "build_s": build_s,
        "rows": rows,
        "trace_bytes": len((run_path / TRACES_FILE).read_bytes()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,16", help="comma-separated size factors (default 1,16)")
    parser.add_argument("--budget", type=int, default=6000, help="prompt_token_budget (default 6000)")
    args = parser.parse_args()
    if not DB.exists():
        sys.exit(f"tau2's retail database is not at {DB}; it is expected next to the project (../shared/datasets)")
    db = json.loads(DB.read_text())
    ok = True
    traces = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in (int(f) for f in args.scales.split(",")):
            result = asyncio.run(measure(factor, db, args.budget, Path(tmp)))
            print(
                f"\n{factor}x: state {result['state_bytes'] / 1e6:.1f} MB (compact JSON); environments built in "
                f"{result['build_s']:.2f} s (whole-state validation and hash: the python/state part's figure)"
            )
            print(f"{'step':<22} {'ok':<3} {'prompt tok':>10} {'mock tok':>9} {'stable':>7} {'shown':>6} {'ms':>8}")
            for row in result["rows"]:
                print(
                    f"{row['tool']:<22} {'y' if row['ok'] else 'n':<3} {row['prompt_tokens']:>10} "
                    f"{row['mock_input_tokens']:>9} {row['stable_share']:>6.0%} {row['shown']:>6} "
                    f"{row['step_ms']:>8.1f}"
                )
                ok = ok and row["prompt_tokens"] <= args.budget and row["ok"]
            print(f"trace line for this episode: {result['trace_bytes']} bytes")
            traces.append(result["trace_bytes"])
    independent = max(traces) - min(traces) <= 64
    print(
        f"\nprompt <= {args.budget} tokens at every scale: {'yes' if ok else 'NO'}; trace bytes independent of "
        f"state size: {'yes' if independent else 'NO'} ({', '.join(map(str, traces))})"
    )
    sys.exit(0 if ok and independent else 1)


if __name__ == "__main__":
    main()
