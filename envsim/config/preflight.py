"""The checks `envsim run` makes before its first model call, made without running anything.

`envsim validate` runs these after loading, so "ok" means `run` starts: every role's model resolves to a
known provider and engine (parsed by the model registry itself, no client created), `scripted:` files
exist, and every python tool's handler (and `function:` model) is found: a file handler is parsed with
`ast` (syntax errors and missing functions are reported, nothing is executed), a module handler is found
with `importlib.util.find_spec` (which imports its parent packages, not the module). `import_handlers`
imports them for real, as `run` does, to catch errors raised at import time.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from envsim.config.locations import Loc, format_loc
from envsim.config.models import EnvironmentCatalog, EnvironmentType, ModelSpec, SynthConfig
from envsim.errors import ConfigError

_ROLES = ("planner", "user", "assistant", "environment", "attribute")


@dataclass(frozen=True)
class _Where:
    file: str | None
    loc: Loc

    def error(self, message: str, hint: str | None = None, *, line: int | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, location=format_loc(self.loc) or None, hint=hint, line=line)


def preflight_errors(config: SynthConfig | EnvironmentCatalog, *, import_handlers: bool = False) -> list[ConfigError]:
    """Every problem `run` would stop at before simulating; see the module docstring."""
    if isinstance(config, EnvironmentCatalog):
        return list(_handler_errors(config, ("environments",), config.source_path, import_handlers))
    errors = list(_model_errors(config, import_handlers))
    conversations = config.strategy_params.multiturn_attributes
    if len(conversations) > 1:
        errors.append(
            _Where(config.source_path, ("strategy_params", "multiturn_attributes")).error(
                f"the config has {len(conversations)} multi-turn attributes; a run simulates one conversation",
                "keep one multi-turn attribute per config (split the others into their own configs)",
            )
        )
    catalog = config.environment_config
    if catalog is not None:
        from_file = config.environment_config_path is not None and catalog.source_path != config.source_path
        prefix: Loc = ("environments",) if from_file else ("environment_config", "environments")
        errors += _handler_errors(catalog, prefix, catalog.source_path or config.source_path, import_handlers)
    return errors


# --------------------------------------------------------------------------- models


def _model_errors(config: SynthConfig, import_handlers: bool) -> Iterator[ConfigError]:
    from envsim.models.registry import known_providers, model_ref_from_spec

    inference = config.inference_config
    base_dir = Path(config.source_path).parent if config.source_path else Path.cwd()
    specs: list[tuple[ModelSpec, Loc]] = [(inference.model, ("inference_config", "model"))]
    specs += [
        (spec, ("inference_config", "roles", role))
        for role in _ROLES
        if (spec := getattr(inference.roles, role)) is not None
    ]
    for spec, loc in specs:
        where = _Where(config.source_path, loc)
        if spec.api_key and not spec.allow_api_key_in_config:
            yield _Where(config.source_path, (*loc, "api_key")).error(
                "an API key is written in the config, which would leak it into files and version control",
                "remove api_key and set api_key_env to the name of an environment variable holding the key "
                "(or set allow_api_key_in_config: true if you really mean it)",
            )
        names_provider = ":" in spec.model_name and spec.model_name.partition(":")[0].lower() in known_providers()
        engine = None if spec.engine is None and names_provider else inference.engine
        try:
            ref = model_ref_from_spec(spec, engine, location=format_loc(loc))
        except ConfigError as exc:
            yield ConfigError(exc.message, file=config.source_path, location=exc.location, hint=exc.hint)
            continue
        if ref.provider not in known_providers():
            yield where.error(f"unknown model provider {ref.provider!r}", f"use one of: {', '.join(known_providers())}")
        elif spec.transport is not None and ref.provider != "openai":
            yield _Where(config.source_path, (*loc, "transport")).error(
                f"transport applies to OpenAI-compatible models, and {ref.provider}:{ref.model} is not one",
                "remove transport from this model section",
            )
        elif ref.provider == "scripted":
            script = (base_dir / Path(ref.model).expanduser()).resolve()
            if not script.is_file():
                yield _Where(config.source_path, (*loc, "model_name")).error(
                    f"script file {ref.model!r} not found (looked for {script})",
                    "scripted model paths are relative to the config file",
                )
        elif ref.provider == "function":
            yield from _callable_errors(
                ref.model, base_dir, _Where(config.source_path, (*loc, "model_name")), import_handlers
            )


# --------------------------------------------------------------------------- python tool handlers


def _handler_errors(
    catalog: EnvironmentCatalog, prefix: Loc, file: str | None, import_handlers: bool
) -> Iterator[ConfigError]:
    base_dir = Path(file).parent if file else Path.cwd()
    for i, env in enumerate(catalog.environments):
        if env.type is not EnvironmentType.PYTHON:
            continue
        if env.module is not None:
            yield from _module_errors(env.module, base_dir, _Where(file, (*prefix, i, "module")), import_handlers)
        for j, tool in enumerate(env.tools):
            if tool.handler is not None:
                where = _Where(file, (*prefix, i, "tools", j, "handler"))
                yield from _callable_errors(tool.handler, base_dir, where, import_handlers)


def _callable_errors(reference: str, base_dir: Path, where: _Where, import_handlers: bool) -> Iterator[ConfigError]:
    """A `module:function` or `file.py:function` reference that cannot be resolved."""
    from envsim.environments.handlers import is_file_reference, load_callable

    module_ref, sep, attribute = reference.rpartition(":")
    if not sep or not module_ref or not attribute:
        return  # the shape is reported by the loader's validation
    if import_handlers:
        try:
            load_callable(reference, base_dir)
        except ConfigError as exc:
            yield where.error(exc.message, exc.hint)
        return
    if is_file_reference(module_ref):
        source = (base_dir / module_ref).resolve()
        if not source.is_file():
            yield where.error(
                f"handler file {module_ref!r} not found (looked for {source})",
                "file paths are relative to the directory of the catalog/config file that names them",
            )
            return
    else:
        found = _find_module(module_ref, where)
        if isinstance(found, ConfigError):
            yield found
            return
        if found is None:
            return  # a built-in or extension module: nothing to parse
        source = found
    yield from _function_errors(source, attribute, reference, where)


def _module_errors(module_ref: str, base_dir: Path, where: _Where, import_handlers: bool) -> Iterator[ConfigError]:
    from envsim.environments.handlers import is_file_reference, load_module

    if import_handlers:
        try:
            load_module(module_ref, base_dir)
        except ConfigError as exc:
            yield where.error(exc.message, exc.hint)
        return
    if is_file_reference(module_ref):
        source = (base_dir / module_ref).resolve()
        if not source.is_file():
            yield where.error(f"module file {module_ref!r} not found (looked for {source})")
        else:
            yield from _syntax_errors(source, where)
        return
    found = _find_module(module_ref, where)
    if isinstance(found, ConfigError):
        yield found
    elif found is not None:
        yield from _syntax_errors(found, where)


def _find_module(module_ref: str, where: _Where) -> Path | ConfigError | None:
    """The source file of a dotted module, None when it has none, or the error saying it is missing."""
    try:
        spec = importlib.util.find_spec(module_ref)
    except (ImportError, ValueError) as exc:
        spec, reason = None, f": {exc}"
    except Exception as exc:  # a parent package failed while importing
        return where.error(f"importing the parent package of {module_ref!r} failed: {type(exc).__name__}: {exc}")
    else:
        reason = ""
    if spec is None:
        return where.error(
            f"cannot find module {module_ref!r}{reason}",
            "make sure the package is installed or on PYTHONPATH, or name a file such as tools.py "
            "relative to the catalog file",
        )
    origin = spec.origin
    return Path(origin) if origin and origin.endswith(".py") else None


def _parse(source: Path, where: _Where) -> ast.Module | ConfigError:
    try:
        return ast.parse(source.read_bytes(), filename=str(source))
    except SyntaxError as exc:
        return where.error(
            f"{source} has a syntax error at line {exc.lineno}: {exc.msg}", "fix the Python file", line=None
        )
    except (OSError, ValueError) as exc:
        return where.error(f"cannot read {source}: {exc}")


def _syntax_errors(source: Path, where: _Where) -> Iterator[ConfigError]:
    parsed = _parse(source, where)
    if isinstance(parsed, ConfigError):
        yield parsed


def _function_errors(source: Path, attribute: str, reference: str, where: _Where) -> Iterator[ConfigError]:
    parsed = _parse(source, where)
    if isinstance(parsed, ConfigError):
        yield parsed
        return
    names = _top_level_names(parsed)
    if names is None:
        return  # `from x import *` or a module __getattr__: only importing can tell
    first = attribute.split(".", 1)[0]
    if first not in names:
        functions = sorted(n for n, is_function in names.items() if is_function)
        yield where.error(
            f"handler {reference!r}: {source.name} defines no {first!r}",
            f"functions defined there: {', '.join(functions)}"
            if functions
            else "check the function name after the colon",
        )


def _top_level_names(module: ast.Module) -> dict[str, bool] | None:
    """Names bound at the top level of a module (name -> is a function), or None when unknowable."""
    names: dict[str, bool] = {}
    for node in _top_level(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names[node.name] = True
        elif isinstance(node, ast.ClassDef):
            names[node.name] = False
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.setdefault(alias.asname or alias.name.split(".")[0], False)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names.setdefault(name.id, False)
    if "__getattr__" in names:
        return None
    return names


def _top_level(module: ast.Module) -> Iterator[ast.stmt]:
    """Top-level statements, including those inside top-level if/try/with blocks (conditional definitions)."""
    pending: list[ast.stmt] = list(module.body)
    while pending:
        node = pending.pop(0)
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With | ast.AsyncWith):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, []):
                    if isinstance(child, ast.ExceptHandler):
                        pending.extend(child.body)
                    else:
                        pending.append(child)
