"""Command-line overrides of config values.

Two spellings: `--set a.b[0].c=VALUE` and the seed's `--a.b[0].c VALUE`. VALUE is parsed as a YAML
scalar or flow collection, so `=0.5`, `=true`, `=[1, 2]` and `={k: v}` have their natural types.
A path must exist in the config, except that its last key may be new in an existing mapping, and
sections the schema knows (say `inference_config.generation`) are created when the file omits them.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from envsim.config.locations import Loc, format_loc, parse_loc
from envsim.config.models import SynthConfig
from envsim.config.pydantic_errors import allowed_keys, describe, is_mapping_at
from envsim.config.spellings import did_you_mean
from envsim.config.yaml_source import parse_yaml_value
from envsim.errors import ConfigError, ConfigErrors

OVERRIDE_FILE = "command line"


def split_seed_style_args(args: list[str]) -> list[str]:
    """`['--a.b', '1', '--c=2']` -> `['a.b=1', 'c=2']`. Raises ConfigErrors for stray or valueless args."""
    out: list[str] = []
    errors: list[ConfigError] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            errors.append(
                ConfigError(
                    f"unexpected argument {arg!r}",
                    file=OVERRIDE_FILE,
                    hint="overrides look like --set a.b=VALUE or --a.b VALUE",
                )
            )
            i += 1
            continue
        body = arg[2:]
        if "=" in body:
            out.append(body)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append(f"{body}={args[i + 1]}")
            i += 2
        else:
            errors.append(
                ConfigError(f"override --{body} has no value", file=OVERRIDE_FILE, hint=f"write --{body} VALUE")
            )
            i += 1
    if errors:
        raise ConfigErrors(errors)
    return out


def apply_overrides(
    raw: dict[str, Any], overrides: list[str], *, model: type[BaseModel] = SynthConfig
) -> dict[str, Any]:
    """Return a copy of `raw` with each `PATH=VALUE` applied in order. Raises ConfigErrors naming bad paths."""
    result = copy.deepcopy(raw)
    errors: list[ConfigError] = []
    for override in overrides:
        try:
            _apply_one(result, override, model)
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigErrors(errors)
    return result


def _apply_one(doc: dict[str, Any], override: str, model: type[BaseModel]) -> None:
    path_text, sep, value_text = override.partition("=")
    path_text = path_text.strip()
    if not sep or not path_text:
        raise ConfigError(
            f"override {override!r} is not of the form PATH=VALUE",
            file=OVERRIDE_FILE,
            hint="for example --set inference_config.generation.temperature=0.5",
        )
    try:
        loc = parse_loc(path_text)
    except ValueError as exc:
        raise ConfigError(f"override path {path_text!r}: {exc}", file=OVERRIDE_FILE) from None
    if not loc:
        raise ConfigError("override path is empty", file=OVERRIDE_FILE)
    value = parse_yaml_value(value_text)

    container: Any = doc
    for depth, part in enumerate(loc):
        here: Loc = loc[: depth + 1]
        last = depth == len(loc) - 1
        if isinstance(container, dict):
            if isinstance(part, int):
                raise _not_there(here, f"'{format_loc(loc[:depth]) or 'the config'}' is a mapping, not a list")
            if last:
                container[part] = value
                return
            if part not in container:
                if not is_mapping_at(model, here):
                    raise _missing_key(here, container, model)
                container[part] = {}
            container = container[part]
        elif isinstance(container, list):
            if not isinstance(part, int):
                raise _not_there(here, f"'{format_loc(loc[:depth])}' is a list; index it with [0], [1], ...")
            if not -len(container) <= part < len(container):
                raise _not_there(
                    here,
                    f"index {part} is out of range: '{format_loc(loc[:depth])}' has {len(container)} "
                    f"item{'s' if len(container) != 1 else ''}",
                )
            if last:
                container[part] = value
                return
            container = container[part]
        else:
            raise _not_there(here, f"'{format_loc(loc[:depth])}' is {describe(container)}, which has no '{part}'")


def _not_there(loc: Loc, why: str) -> ConfigError:
    return ConfigError(
        f"'{format_loc(loc)}' does not exist in the config: {why}", file=OVERRIDE_FILE, location=format_loc(loc)
    )


def _missing_key(loc: Loc, container: dict[str, Any], model: type[BaseModel]) -> ConfigError:
    choices = sorted({*map(str, container), *allowed_keys(model, loc[:-1])})
    suggestion = did_you_mean(str(loc[-1]), choices)
    return ConfigError(
        f"'{format_loc(loc)}' does not exist in the config",
        file=OVERRIDE_FILE,
        location=format_loc(loc),
        hint=f"did you mean '{suggestion}'?" if suggestion else "check the path against the config file",
    )
