"""Load a config (or an environment catalog) from YAML into typed objects, or report every error.

Steps: safe YAML (duplicate keys rejected) -> `--set` overrides -> the environment catalog from
`environment_config_path` (relative to the file naming it) -> accepted spellings normalized -> pydantic
-> semantic validation (`validation.py`, plus `EXTRA_VALIDATORS`). Every error names the file, the
line, the path inside that file as the user wrote it, what is wrong and, where obvious, the fix.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from envsim.config.locations import Loc, PathMap, format_loc, parse_loc
from envsim.config.models import EnvironmentCatalog, EnvironmentConfig, SynthConfig
from envsim.config.overrides import OVERRIDE_FILE, apply_overrides
from envsim.config.pydantic_errors import explain_validation_error
from envsim.config.spellings import normalize_environment
from envsim.config.validation import (
    CATALOG_ENVIRONMENTS,
    CONFIG_ENVIRONMENTS,
    validate_catalog,
    validate_config,
    validate_environments,
)
from envsim.config.yaml_source import YamlDocument, read_text_file, read_yaml
from envsim.errors import ConfigError, ConfigErrors
from envsim.redaction import register_secrets_in

ENV_ROOT: Loc = ("environment_config",)


@dataclass
class _Source:
    """One file's share of the merged document, for mapping error locations back to it.

    `mount` is where its content sits in the merged config; `file_prefix` is where that content sits
    in the file; `bare_list` catalogs are a list at the top level instead of `environments: [...]`.
    """

    display: str
    doc: YamlDocument
    mount: Loc = ()
    file_prefix: Loc = ()
    bare_list: bool = False
    paths: PathMap = field(default_factory=PathMap)

    def locate(self, local: Loc) -> Loc:
        """A location in this source's (normalized) content -> the path the user wrote in the file."""
        original = self.paths.to_original(local)
        if self.bare_list and original[:1] == ("environments",):
            original = original[1:]
        return self.file_prefix + original

    def error(self, local: Loc, message: str, hint: str | None = None, *, original: bool = False) -> ConfigError:
        file_loc = self.file_prefix + local if original else self.locate(local)
        if original and self.bare_list and local[:1] == ("environments",):
            file_loc = self.file_prefix + local[1:]
        return ConfigError(
            message,
            file=self.display,
            location=format_loc(file_loc) or None,
            hint=hint,
            line=self.doc.line_of(file_loc),
        )


@dataclass
class _Catalog:
    data: Any
    source: _Source
    base_dir: Path
    file: Path | None = None  # its own file, when it came from environment_config_path


class _Load:
    """The state of one load: the sources involved and the errors found so far."""

    def __init__(self) -> None:
        self.sources: list[_Source] = []
        self.errors: list[ConfigError] = []

    def relocate(self, errors: list[ConfigError]) -> list[ConfigError]:
        """Map errors located in the merged config to the file and path the user wrote."""
        out = []
        for error in errors:
            if error.file == OVERRIDE_FILE:
                out.append(error)
                continue
            try:
                loc = parse_loc(error.location or "")
            except ValueError:
                out.append(error)
                continue
            source = max(
                (s for s in self.sources if loc[: len(s.mount)] == s.mount),
                key=lambda s: len(s.mount),
                default=self.sources[0],
            )
            out.append(source.error(loc[len(source.mount) :], error.message, error.hint))
        return out

    def validate_catalog(self, data: Any, source: _Source, prefix: Loc) -> EnvironmentCatalog | None:
        """Validate a catalog; when it is broken, still run the semantic checks on its valid environments."""
        catalog = self.validate(EnvironmentCatalog, data, source)
        if catalog is None:
            envs = data.get("environments") if isinstance(data, dict) else None
            valid = []
            for i, env in enumerate(envs if isinstance(envs, list) else []):
                try:
                    valid.append((i, EnvironmentConfig.model_validate(env)))
                except ValidationError:
                    continue  # already reported with the whole catalog
            self.errors += self.relocate(validate_environments(valid, prefix))
        return catalog

    def validate(self, model: type[BaseModel], data: Any, source: _Source) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for located in explain_validation_error(exc, model):
                self.errors.append(source.error(located.loc, located.message, located.hint))
            return None


def load_config(path: str | Path, overrides: list[str] | None = None) -> SynthConfig:
    """Load and fully validate a config file. Raises ConfigErrors listing every problem found."""
    path = Path(path)
    state = _Load()
    main = _Source(display=str(path), doc=read_yaml(path))
    state.sources.append(main)
    raw = _expect_mapping(main)

    overrides = list(overrides or [])
    from_path = isinstance(raw.get("environment_config_path"), str) and "environment_config" not in raw
    catalog_overrides = [o for o in overrides if from_path and o.split("=", 1)[0].startswith("environment_config.")]
    raw = apply_overrides(raw, [o for o in overrides if o not in catalog_overrides])
    register_secrets_in(raw)  # keys from the file or `--set` are redacted from every output from now on

    if "source_path" in raw:
        raw.pop("source_path")
        state.errors.append(
            main.error(("source_path",), "unknown key 'source_path'", "source_path is set by envsim; remove it")
        )
    if "environment_config" in raw and "environment_config_path" in raw:
        state.errors.append(
            main.error(
                ("environment_config_path",),
                "both environment_config and environment_config_path are set",
                "keep one: environments inline under environment_config, or in a catalog file named by "
                "environment_config_path",
            )
        )

    catalog = _catalog_of(raw, main, path, from_path, catalog_overrides, state)
    config = state.validate(SynthConfig, raw, main)
    environments = state.validate_catalog(catalog.data, catalog.source, CONFIG_ENVIRONMENTS) if catalog else None
    catalog_ok = environments is not None or (catalog is None and not from_path)

    if config is not None:
        config.source_path = str(path.resolve())
        if catalog is not None and environments is not None:
            environments.source_path = str(catalog.file.resolve()) if catalog.file else config.source_path
            config.environment_config = environments
        # Cross-checks against a catalog that failed to load would only add noise; the rest still runs.
        state.errors += state.relocate(validate_config(config, environments_loaded=catalog_ok))
    elif environments is not None:
        state.errors += state.relocate(validate_catalog(environments, CONFIG_ENVIRONMENTS))
    if state.errors:
        raise ConfigErrors(_unique(state.errors))
    assert config is not None
    return config


def load_environment_catalog(path: str | Path, overrides: list[str] | None = None) -> EnvironmentCatalog:
    """Load and validate a catalog file (`environments: [...]`, or a bare list). Raises ConfigErrors."""
    path = Path(path)
    state = _Load()
    doc = read_yaml(path)
    data, bare = _catalog_shape(doc.data, _Source(display=str(path), doc=doc), state)
    source = _Source(display=str(path), doc=doc, bare_list=bare)
    state.sources.append(source)
    if data is not None and overrides:
        data = apply_overrides(data, overrides, model=EnvironmentCatalog)
    if data is not None:
        data = _normalize_catalog(data, source, path.parent, state)
    catalog = state.validate_catalog(data, source, CATALOG_ENVIRONMENTS) if data is not None else None
    if catalog is not None:
        catalog.source_path = str(path.resolve())
        state.errors += state.relocate(validate_catalog(catalog))
    if state.errors:
        raise ConfigErrors(_unique(state.errors))
    assert catalog is not None
    return catalog


def load_config_or_catalog(path: str | Path, overrides: list[str] | None = None) -> SynthConfig | EnvironmentCatalog:
    """Load either kind of file, telling them apart by shape (used by `envsim validate`)."""
    path = Path(path)
    if is_catalog_document(read_yaml(path).data):
        return load_environment_catalog(path, overrides)
    return load_config(path, overrides)


def is_catalog_document(data: Any) -> bool:
    """A bare list, or a mapping whose only key is `environments`, is a catalog rather than a config."""
    return isinstance(data, list) or (isinstance(data, dict) and set(data) == {"environments"})


# --------------------------------------------------------------------------- helpers


def _expect_mapping(source: _Source) -> dict[str, Any]:
    data = source.doc.data
    if isinstance(data, dict):
        return data
    if data is None:
        raise ConfigError("the file is empty", file=source.display, hint="a config is a YAML mapping of sections")
    hint = "a config is a YAML mapping (strategy, environment_config, strategy_params, inference_config, ...)"
    if isinstance(data, list):
        hint += "; a list at the top level is an environment catalog: name it with environment_config_path"
    raise ConfigError(
        f"expected a mapping at the top level, got a {type(data).__name__}", file=source.display, hint=hint
    )


def _catalog_of(
    raw: dict[str, Any],
    main: _Source,
    path: Path,
    from_path: bool,
    overrides: list[str],
    state: _Load,
) -> _Catalog | None:
    """Take the environment catalog out of `raw` (inline or from its file), normalized for validation."""
    if from_path:
        named = raw["environment_config_path"]
        file = path.parent / Path(named).expanduser()
        display = (
            named if Path(named).is_absolute() else os.path.normpath(os.path.join(os.path.dirname(main.display), named))
        )
        try:
            doc = read_yaml(file, display=display)
        except ConfigError as exc:
            state.errors.append(
                main.error(
                    ("environment_config_path",),
                    f"cannot load the environment catalog: {exc.message} (looked for {file.resolve()})",
                    exc.hint,
                )
                if exc.message in ("file not found", "is a directory, expected a YAML file")
                else exc
            )
            return None
        probe = _Source(display=display, doc=doc)
        data, bare = _catalog_shape(doc.data, probe, state)
        if data is None:
            return None
        source = _Source(display=display, doc=doc, mount=ENV_ROOT, bare_list=bare)
        if overrides:
            data = apply_overrides({"environment_config": data}, overrides)["environment_config"]
        base_dir = file.parent
        catalog_file: Path | None = file
    elif isinstance(raw.get("environment_config"), dict):
        data = raw.pop("environment_config")
        source = _Source(display=main.display, doc=main.doc, mount=ENV_ROOT, file_prefix=ENV_ROOT)
        base_dir = path.parent
        catalog_file = None
    else:
        return None
    state.sources.append(source)
    data = _normalize_catalog(data, source, base_dir, state)
    return _Catalog(data=data, source=source, base_dir=base_dir, file=catalog_file)


def _catalog_shape(data: Any, source: _Source, state: _Load) -> tuple[dict[str, Any] | None, bool]:
    if isinstance(data, list):
        return {"environments": data}, True
    if isinstance(data, dict):
        return data, False
    state.errors.append(
        source.error(
            (),
            "an environment catalog must be a mapping with `environments: [...]` or a list of environments, "
            f"got {'an empty file' if data is None else type(data).__name__}",
        )
    )
    return None, False


def _normalize_catalog(data: dict[str, Any], source: _Source, base_dir: Path, state: _Load) -> dict[str, Any]:
    environments = data.get("environments")
    if not isinstance(environments, list):
        return data  # pydantic reports the wrong shape
    data = dict(data)
    data["environments"] = []
    for i, env in enumerate(environments):
        normalized = normalize_environment(env)
        for local, original in normalized.paths.renames:
            source.paths.add(("environments", i, *local), ("environments", i, *original))
        for issue in normalized.issues:
            state.errors.append(source.error(("environments", i, *issue.loc), issue.message, issue.hint, original=True))
        _read_initial_state(normalized.data, ("environments", i), source, base_dir, state)
        data["environments"].append(normalized.data)
    return data


def _read_initial_state(env: Any, loc: Loc, source: _Source, base_dir: Path, state: _Load) -> None:
    """`state_params.initial_state_path` (relative to the file naming it) is read into `initial_state`.

    It may also be a list of candidate files, the first that exists being read, and a candidate may
    name environment variables as `${NAME}` (skipped while NAME is unset): data that must not be copied
    into a project is found where each machine keeps it."""
    params = env.get("state_params") if isinstance(env, dict) else None
    if not isinstance(params, dict):
        return
    named = params.get("initial_state_path")
    if _is_candidate_list(named) or (isinstance(named, str) and _VARIABLE.search(named)):
        _choose_state_file(params, (*loc, "state_params", "initial_state_path"), source, base_dir, state)
    if not isinstance(params.get("initial_state_path"), str):
        return
    path_loc = (*loc, "state_params", "initial_state_path")
    if "initial_state" in params:
        state.errors.append(
            source.error(path_loc, "both initial_state and initial_state_path are set", "keep one of them")
        )
        return
    named = params["initial_state_path"]
    file = base_dir / Path(named).expanduser()
    try:
        if file.suffix in (".yaml", ".yml"):
            value = read_yaml(file).data
        else:
            value = json.loads(read_text_file(file, str(file)))
    except (OSError, ConfigError) as exc:
        state.errors.append(source.error(path_loc, f"cannot read initial state file '{named}': {_reason(exc)}"))
        return
    except json.JSONDecodeError as exc:
        state.errors.append(
            source.error(
                path_loc,
                f"initial state file '{named}' is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            )
        )
        return
    except RecursionError:
        state.errors.append(source.error(path_loc, f"initial state file '{named}' is nested too deeply to read"))
        return
    params["initial_state"] = value
    # Problems found in the loaded state are reported at the key that named the file.
    source.paths.add((*loc, "state_params", "initial_state"), source.paths.to_original(path_loc))


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _is_candidate_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) for item in value)


def _expand_variables(path: str) -> str | None:
    """`path` with `${NAME}` replaced from the environment; None when a named variable is unset or empty."""
    missing = [name for name in _VARIABLE.findall(path) if not os.environ.get(name)]
    if missing:
        return None
    return _VARIABLE.sub(lambda match: os.environ[match.group(1)], path)


def _choose_state_file(params: dict[str, Any], path_loc: Loc, source: _Source, base_dir: Path, state: _Load) -> None:
    """Replace candidate state files (a list, or one path with `${NAME}`) by the first that exists, or
    report every place tried."""
    named = params["initial_state_path"]
    candidates = [named] if isinstance(named, str) else named
    tried = []
    for candidate in candidates:
        expanded = _expand_variables(candidate)
        if expanded is None:
            unset = ", ".join(n for n in _VARIABLE.findall(candidate) if not os.environ.get(n))
            tried.append(f"{candidate} ({unset} not set)")
            continue
        file = (base_dir / Path(expanded).expanduser()).resolve()
        if file.is_file():
            params["initial_state_path"] = str(file)
            return
        tried.append(f"{candidate} ({file}: not found)")
    variables = sorted({n for c in candidates for n in _VARIABLE.findall(c)})
    hint = "put the file in one of these places"
    if variables:
        hint += f", or set {' / '.join(variables)} to the directory that holds it"
    state.errors.append(source.error(path_loc, "initial state file not found; tried " + "; ".join(tried), hint))
    params.pop("initial_state_path")  # reported once here, not again as a missing file


def _unique(errors: list[ConfigError]) -> list[ConfigError]:
    # A spelling problem is found by the loader (with a fix) and again by the model's own check.
    seen: set[tuple[str | None, str | None, str]] = set()
    out = []
    for error in errors:
        key = (error.file, error.location, error.message)
        if key not in seen:
            seen.add(key)
            out.append(error)
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    return exc.message if isinstance(exc, ConfigError) else str(exc)
