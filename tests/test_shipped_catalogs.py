"""`envsim validate` accepts every shipped environment catalog and reports precise errors on broken copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from envsim.cli import app

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted((ROOT / "environments").rglob("*.yaml"))
# tau2_retail reads tau2-bench's database from outside the project (never copied in); see docs/tau2.md.
TAU2_DATA = [os.environ.get("ENVSIM_TAU2_RETAIL_DIR", ""), str(ROOT.parent / "shared" / "datasets" / "tau2-retail")]
NO_TAU2_DATA = not any(d and (Path(d) / "db.json").is_file() for d in TAU2_DATA)


def _catalog_param(path: Path) -> object:
    skip = path.parent.name == "tau2_retail" and NO_TAU2_DATA
    return pytest.param(path, marks=pytest.mark.skipif(skip, reason="tau2-bench retail data not found"))


def _validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("path", [_catalog_param(p) for p in CATALOGS], ids=lambda p: p.name)
def test_shipped_catalog_validates(path: Path) -> None:
    code, output = _validate(path)
    assert code == 0, output
    assert output.startswith("ok")


def _broken_copy(tmp_path: Path, source: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / source.parent.name
    shutil.copytree(source.parent, folder, dirs_exist_ok=True)
    target = folder / source.name
    data = yaml.safe_load(target.read_text())
    mutate(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def test_unknown_tool_key_is_named_with_its_path(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["environments"][2]["tools"][0]["paramters"] = {}

    code, output = _validate(_broken_copy(tmp_path, ROOT / "environments/support.yaml", mutate))
    assert code == 1
    assert "environments[2].tools[0]" in output and "paramters" in output and "parameters" in output


def test_initial_state_violating_the_schema_is_reported(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["environments"][0]["state_params"]["initial_state"]["tickets"]["T-1001"]["status"] = "lost"

    code, output = _validate(_broken_copy(tmp_path, ROOT / "environments/support.yaml", mutate))
    assert code == 1
    assert "environments[0].state_params.initial_state" in output and "lost" in output


def test_deterministic_input_violating_parameters_is_reported(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["environments"][2]["tools"][0]["deterministic_outputs"][1]["input"] = {"no_such_argument": 1}

    code, output = _validate(_broken_copy(tmp_path, ROOT / "environments/support.yaml", mutate))
    assert code == 1
    assert "environments[2].tools[0].deterministic_outputs[1].input" in output


def test_retail_catalog_with_a_missing_initial_state_file_is_reported(tmp_path: Path) -> None:
    source = ROOT / "environments/retail/retail.yaml"
    target = _broken_copy(tmp_path, source, lambda data: None)
    (target.parent / "retail_state.json").unlink()
    code, output = _validate(target)
    assert code == 1
    assert "retail_state.json" in output
