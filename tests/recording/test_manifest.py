"""The manifest never holds a secret, and its hash tells a changed config from the same one."""

from __future__ import annotations

import json
from pathlib import Path

from envsim.recording import RunDirectory, RunManifest, redact_secrets
from envsim.recording.manifest import is_secret_key

SECRET = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456"


def test_secret_named_keys_are_redacted_and_token_counts_are_not() -> None:
    config = {
        "inference_config": {
            "model": {"model_name": "gpt-4o", "api_key": SECRET, "base_url": "https://user:pw@host/v1"},
            "generation": {"max_new_tokens": 512},
            "remote_params": {"tokens_per_minute": 1000, "headers": {"Authorization": "Bearer x"}},
        },
        "extra": [{"accessToken": "t"}, {"db_password": "p"}, {"client-secret": "s"}, {"private_key": "k"}],
        "prompt": f"use key {SECRET} please",
    }
    clean = redact_secrets(config)
    assert clean["inference_config"]["model"]["api_key"] == "***"
    assert clean["inference_config"]["model"]["base_url"] == "https://***@host/v1"
    assert clean["inference_config"]["generation"]["max_new_tokens"] == 512
    assert clean["inference_config"]["remote_params"]["tokens_per_minute"] == 1000
    assert clean["inference_config"]["remote_params"]["headers"]["Authorization"] == "***"
    assert [next(iter(d.values())) for d in clean["extra"]] == ["***"] * 4
    assert clean["prompt"] == "use key *** please"
    assert config["inference_config"]["model"]["api_key"] == SECRET  # the input is not modified


def test_key_classification() -> None:
    assert all(map(is_secret_key, ["api_key", "OPENAI_API_KEY", "apiKey", "token", "auth_token", "secret"]))
    assert not any(map(is_secret_key, ["max_tokens", "max_new_tokens", "keywords", "key", "cache_key", "tokens"]))


def test_no_secret_reaches_disk(tmp_path: Path) -> None:
    config = {"inference_config": {"model": {"api_key": SECRET}}}
    manifest = RunManifest.create(config, seed=1, models={"assistant": "openai:m"}, command_line=["--api-key", SECRET])
    RunDirectory.open(tmp_path, manifest=manifest).close()
    for file in tmp_path.iterdir():
        assert SECRET not in file.read_text(), file.name


def test_hash_is_stable_and_changes_with_config() -> None:
    a = RunManifest.create({"x": 1, "y": {"z": 2}}, seed=0, command_line=[])
    b = RunManifest.create({"y": {"z": 2}, "x": 1}, seed=0, command_line=[])
    c = RunManifest.create({"x": 1, "y": {"z": 3}}, seed=0, command_line=[])
    assert a.config_hash == b.config_hash != c.config_hash
    assert a.differences(b) == []
    assert a.differences(c) == ["config.y"]
    assert json.loads(a.model_dump_json())["envsim_version"]
