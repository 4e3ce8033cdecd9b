"""Record what tau2-bench's own retail tools do with each task's gold actions (run by hand, never in CI).

    python tests/environments/data/tau2_retail/generate_fingerprints.py \
        --tau2 /path/to/tau2-bench  [--data ../shared/datasets/tau2-retail]  [--out fingerprints.json]

`--tau2` is a tau2-bench checkout or its bare git directory (then HEAD is read). The script runs tau2's
real `domains/retail/tools.py`, `domains/retail/data_model.py`, `environment/toolkit.py` and
`environment/db.py` in a throwaway package; only tau2's heavy, unrelated dependencies (loguru, dotenv,
deepdiff, addict, its LLM tool wrapper) are replaced by stubs, and the two helpers the DB hash needs
(`get_dict_hash`, `get_pydantic_hash`, `BaseModelNoExtra`) are lifted verbatim from tau2's source.

For every task it replays the gold actions the way tau2's evaluator builds its gold environment
(`EnvironmentEvaluator.calculate_reward`: fresh DB, each action via `make_tool_call`, exceptions logged
and skipped) and records:
- `db_hash`: tau2's `get_db_hash()` of the final DB (sha256 of `json.dumps(db.model_dump(),
  sort_keys=True, default=str)`);
- per action: a short sha256 of tau2's tool message content (`Environment.to_json_str(resp)`, or
  `"Error: <message>"`), and the error message itself when the action failed;
- `changed`: the ids of the orders/users whose dump differs from the initial DB (for diagnosis).

Nothing of tau2 is written into this repository: only these fingerprints.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

# tau2 sources run unchanged, written into the throwaway package under the same module names.
REAL_MODULES = {
    "tau2/domains/retail/tools.py": "src/tau2/domains/retail/tools.py",
    "tau2/domains/retail/data_model.py": "src/tau2/domains/retail/data_model.py",
    "tau2/environment/toolkit.py": "src/tau2/environment/toolkit.py",
    "tau2/environment/db.py": "src/tau2/environment/db.py",
}


def read_source(tau2: Path, relative: str) -> str:
    if (tau2 / relative).is_file():
        return (tau2 / relative).read_text(encoding="utf-8")
    return subprocess.run(
        ["git", "--git-dir", str(tau2), "show", f"HEAD:{relative}"], check=True, capture_output=True, text=True
    ).stdout


def tau2_commit(tau2: Path) -> str:
    git_dir = tau2 if (tau2 / "HEAD").is_file() else tau2 / ".git"
    result = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def lift(source: str, names: set[str]) -> str:
    """The top-level functions/classes called `names`, verbatim from `source`."""
    tree = ast.parse(source)
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names]
    missing = names - {node.name for node in found}
    if missing:
        raise SystemExit(f"tau2 source no longer defines {sorted(missing)}; update this script")
    return "\n\n".join(ast.get_source_segment(source, node) or "" for node in found)


def build_package(tau2: Path, data: Path, root: Path) -> None:
    files: dict[str, str] = {relative: read_source(tau2, source) for relative, source in REAL_MODULES.items()}
    utils = read_source(tau2, "src/tau2/utils/utils.py")
    pydantic_utils = read_source(tau2, "src/tau2/utils/pydantic_utils.py")
    files["tau2/utils/utils.py"] = "import hashlib\nimport json\n\n" + lift(utils, {"get_dict_hash"})
    files["tau2/utils/pydantic_utils.py"] = (
        "from typing import Any, Dict, Optional\nfrom pydantic import BaseModel, ConfigDict\n"
        "from .utils import get_dict_hash\n\n"
        + lift(pydantic_utils, {"BaseModelNoExtra", "get_pydantic_hash"})
        + "\n\n\ndef update_pydantic_model_with_dict(model_instance, update_data):\n"
        "    raise NotImplementedError('not needed: retail tasks have no initialization_data')\n"
    )
    files["tau2/utils/__init__.py"] = textwrap.dedent(
        """
        import json
        from .pydantic_utils import get_pydantic_hash, update_pydantic_model_with_dict
        from .utils import get_dict_hash

        def load_file(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)

        def dump_file(path, data, **kwargs):
            raise NotImplementedError
        """
    )
    # The LLM-facing tool wrapper is not used to call tools (ToolKitBase.use_tool calls the bound method).
    files["tau2/environment/tool.py"] = "class Tool:\n    pass\n\n\ndef as_tool(func, **kwargs):\n    return func\n"
    files["tau2/domains/retail/utils.py"] = f"RETAIL_DB_PATH = {str(data / 'db.json')!r}\n"
    for package in ("tau2", "tau2/domains", "tau2/domains/retail", "tau2/environment"):
        files.setdefault(f"{package}/__init__.py", "")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def to_json_str(resp: Any) -> str:
    """tau2's `Environment.to_json_str` for the response types retail tools return."""
    from pydantic import BaseModel

    if isinstance(resp, str):
        return resp
    if isinstance(resp, BaseModel):
        return json.dumps(resp.model_dump(), default=str)
    raise TypeError(f"unexpected tool response {type(resp).__name__}")


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint_tasks(data: Path) -> list[dict[str, Any]]:
    from tau2.domains.retail.data_model import RetailDB  # type: ignore[import-not-found]
    from tau2.domains.retail.tools import RetailTools  # type: ignore[import-not-found]

    tasks = json.loads((data / "tasks.json").read_text(encoding="utf-8"))
    raw = json.loads((data / "db.json").read_text(encoding="utf-8"))
    initial = RetailDB.model_validate(raw).model_dump()
    out = []
    for task in tasks:
        tools = RetailTools(RetailDB.model_validate(raw))
        actions = []
        for action in task["evaluation_criteria"].get("actions") or []:
            before = tools.get_db_hash()
            record: dict[str, Any] = {"id": action["action_id"], "name": action["name"]}
            try:
                content = to_json_str(tools.use_tool(action["name"], **action["arguments"]))
            except Exception as exc:  # tau2's evaluator logs and skips a failing gold action
                content = f"Error: {exc}"
                record["error"] = str(exc)
                if tools.get_db_hash() != before:
                    record["changed_db_before_failing"] = True
            record["output"] = short_hash(content)
            actions.append(record)
        final = tools.db.model_dump()
        changed = sorted(
            f"{table}/{key}"
            for table in ("orders", "users", "products")
            for key in final[table]
            if final[table][key] != initial[table][key]
        )
        out.append({"task": task["id"], "db_hash": tools.get_db_hash(), "changed": changed, "actions": actions})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tau2", type=Path, required=True, help="tau2-bench checkout or bare git directory")
    default_data = Path(__file__).resolve().parents[4].parent / "shared" / "datasets" / "tau2-retail"
    parser.add_argument("--data", type=Path, default=default_data, help="directory with db.json and tasks.json")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("fingerprints.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build_package(args.tau2, args.data.resolve(), Path(tmp))
        sys.path.insert(0, tmp)
        tasks = fingerprint_tasks(args.data)
    raw = json.loads((args.data / "db.json").read_text(encoding="utf-8"))
    document = {
        "about": "tau2-bench's own retail tools replaying each task's gold actions; see generate_fingerprints.py",
        "tau2_commit": tau2_commit(args.tau2),
        "db_sha256": hashlib.sha256((args.data / "db.json").read_bytes()).hexdigest(),
        "initial_db_hash": _initial_hash(raw),
        "tasks": tasks,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(tasks)} tasks")


def _initial_hash(raw: dict[str, Any]) -> str:
    from tau2.domains.retail.data_model import RetailDB  # type: ignore[import-not-found]

    return RetailDB.model_validate(raw).get_hash()


if __name__ == "__main__":
    main()
