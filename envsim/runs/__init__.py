"""Runs: a config is built once into a `RunPlan` (`plan_run`), then executed (`execute_plan`).

    plan = plan_run("examples/support_chat.yaml", out_dir="runs/support", num_samples=10)
    print(plan.total, plan.processes, plan.role_models)       # inspect before anything runs
    summary = await execute_plan(plan)                        # again: resumes, repeats nothing

Modules: `inputs` (the config from a file or object, with overrides), `episodes` (which episodes),
`plan` (RunPlan and plan_run), `simulator` (one process's models and episode deps), `execute`
(single- and multi-process execution, recording, evaluation), `dataset` (the `output_path` file),
`summary` (RunSummary), `view` (the plan as a table, for `envsim run --dry-run`).
"""

from envsim.runs.execute import execute_plan
from envsim.runs.plan import RunPlan, plan_run
from envsim.runs.summary import RunSummary

__all__ = ["RunPlan", "RunSummary", "execute_plan", "plan_run"]
