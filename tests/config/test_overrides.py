"""`--set a.b[0].c=VALUE` and the seed's `--a.b[0].c VALUE` overrides."""

from __future__ import annotations

import pytest
from config_helpers import MODEL, WriteFile, config_errors, where

from envsim.config.loader import load_config
from envsim.config.overrides import apply_overrides, split_seed_style_args
from envsim.errors import ConfigErrors

RAW = {
    "num_samples": 3,
    "strategy_params": {
        "sampled_attributes": [{"id": "tone", "possible_values": [{"id": "calm", "sample_rate": 0.5}]}],
    },
    "inference_config": {"model": {"model_name": "m"}, "generation": {"temperature": 0.7}},
}


def test_values_are_parsed_as_yaml() -> None:
    out = apply_overrides(
        RAW,
        [
            "inference_config.generation.temperature=0.5",
            "num_samples=10",
            "inference_config.generation.stop_strings=[a, b]",
            "inference_config.model.model_name=openai:gpt-4o-mini",
        ],
    )
    assert out["inference_config"]["generation"] == {"temperature": 0.5, "stop_strings": ["a", "b"]}
    assert out["num_samples"] == 10
    assert out["inference_config"]["model"]["model_name"] == "openai:gpt-4o-mini"
    assert RAW["num_samples"] == 3  # the input is not modified


def test_list_indices() -> None:
    out = apply_overrides(RAW, ["strategy_params.sampled_attributes[0].possible_values[0].sample_rate=0.8"])
    assert out["strategy_params"]["sampled_attributes"][0]["possible_values"][0]["sample_rate"] == 0.8


def test_sections_the_schema_knows_are_created() -> None:
    out = apply_overrides(
        {"inference_config": {"model": {"model_name": "m"}}}, ["inference_config.remote_params.num_workers=4"]
    )
    assert out["inference_config"]["remote_params"] == {"num_workers": 4}


@pytest.mark.parametrize(
    ("override", "location", "fragment"),
    [
        (
            "strategy_params.sampled_attributes[3].id=x",
            "strategy_params.sampled_attributes[3]",
            "index 3 is out of range",
        ),
        ("inference_config.generaton.temperature=1", "inference_config.generaton", "did you mean 'generation'?"),
        ("num_samples.value=1", "num_samples.value", "is an integer (3)"),
        ("strategy_params.sampled_attributes.id=x", "strategy_params.sampled_attributes.id", "is a list"),
    ],
)
def test_paths_that_do_not_exist_are_errors(override: str, location: str, fragment: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        apply_overrides(RAW, [override])
    (error,) = info.value.errors
    assert error.location == location
    assert fragment in error.render()
    assert error.file == "command line"


def test_malformed_override() -> None:
    with pytest.raises(ConfigErrors) as info:
        apply_overrides(RAW, ["num_samples", "a..b=1"])
    assert [e.message.split(" ")[0] for e in info.value.errors] == ["override", "override"]


def test_split_seed_style_args() -> None:
    args = [
        "--inference_config.generation.temperature",
        "0.5",
        "--strategy_params.sampled_attributes[0].possible_values[0].sample_rate",
        "0.8",
        "--num_samples=4",
        "--seed",
        "-1",
    ]
    assert split_seed_style_args(args) == [
        "inference_config.generation.temperature=0.5",
        "strategy_params.sampled_attributes[0].possible_values[0].sample_rate=0.8",
        "num_samples=4",
        "seed=-1",
    ]


def test_split_seed_style_args_errors() -> None:
    with pytest.raises(ConfigErrors) as info:
        split_seed_style_args(["stray", "--a.b"])
    assert [e.message for e in info.value.errors] == ["unexpected argument 'stray'", "override --a.b has no value"]


def test_load_config_applies_overrides_before_validation(write: WriteFile) -> None:
    path = write("c.yaml", "num_samples: 2\n", MODEL)
    config = load_config(path, ["num_samples=5", "inference_config.generation.temperature=0.25"])
    assert config.num_samples == 5
    assert config.inference_config.generation.temperature == 0.25


def test_override_producing_invalid_value_is_reported(write: WriteFile) -> None:
    path = write("c.yaml", "num_samples: 2\n", MODEL)
    errors = config_errors(path, ["num_samples=lots"])
    assert where(errors) == [("c.yaml", "num_samples")]


def test_overrides_reach_environments_in_a_catalog_file(write: WriteFile) -> None:
    write("envs.yaml", "environments:\n  - {id: a, type: synthetic, system_prompt: old}\n")
    path = write("c.yaml", "environment_config_path: envs.yaml\n", MODEL)
    config = load_config(path, ["environment_config.environments[0].system_prompt=new"])
    assert config.environment_config is not None
    assert config.environment_config.environments[0].system_prompt == "new"
