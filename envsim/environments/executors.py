"""oumi's tool executors: `executor: module.function` (or a name registered with oumi's
`@register_tool_executor`), so oumi users' executor files run unchanged.

oumi's calling convention: the executor gets keyword arguments, always `arguments` (the tool-call
arguments as a dict) plus `state` (a deep copy of the state, stateful synthetic environments) or
`context` (a `sqlite3.Connection`, database environments), and returns `ToolResult(output=...,
updated_state=...)`. Those files import `oumi.core.registry` and `oumi.core.types.tool_call`; when oumi
is not installed, envsim provides those two modules (`register_tool_executor`, `ToolResult`) so the
files import anyway. With oumi installed, its own registry is consulted too.

Finding the code, like oumi: the modules listed in the file named by `OUMI_EXTRA_DEPS_FILE` (one path
per line, relative to the working directory) are imported first, so their registrations run. envsim
also reads an `extra_deps.txt` next to the config (oumi needs the variable), resolving each line against
the working directory, then the config's directory, then the config's directory + the file name. A
dotted path is imported normally, falling back to `<config dir>/<module>.py`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from envsim.environments.handlers import load_module
from envsim.errors import ConfigError

EXTRA_DEPS_ENV = "OUMI_EXTRA_DEPS_FILE"
EXTRA_DEPS_FILE = "extra_deps.txt"

Executor = Callable[..., Any]


class OumiToolResult(BaseModel):
    """oumi's `ToolResult` (oumi.core.types.tool_call): what an executor returns."""

    output: Any = None
    updated_state: dict[str, Any] | None = None


# oumi lower-cases registry names (RegistryKey); so does this registry.
_REGISTERED: dict[str, Executor] = {}
_LOADED_DEPS: set[Path] = set()


def register_tool_executor(name: str) -> Callable[[Executor], Executor]:
    """oumi's decorator: register `fn` under `name` (case-insensitive)."""

    def register(fn: Executor) -> Executor:
        _REGISTERED[name.lower()] = fn
        return fn

    return register


def install_oumi_shim() -> None:
    """Provide `oumi.core.registry.register_tool_executor` and `oumi.core.types.tool_call.ToolResult`
    when oumi itself is not installed (an installed oumi is left alone)."""
    if "oumi" in sys.modules or importlib.util.find_spec("oumi") is not None:
        return
    names = ("oumi", "oumi.core", "oumi.core.registry", "oumi.core.types", "oumi.core.types.tool_call")
    modules = {name: types.ModuleType(name) for name in names}
    for name, module in modules.items():
        module.__path__ = []  # a package, so the submodules import
        module.__doc__ = "envsim's stand-in for oumi (oumi is not installed)"
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["oumi.core.registry"].register_tool_executor = register_tool_executor  # type: ignore[attr-defined]
    modules["oumi.core.types.tool_call"].ToolResult = OumiToolResult  # type: ignore[attr-defined]
    sys.modules.update(modules)


def is_tool_result(value: Any) -> bool:
    """A ToolResult of envsim's shim or of a real oumi install (same two fields)."""
    if isinstance(value, OumiToolResult):
        return True
    return type(value).__name__ == "ToolResult" and hasattr(value, "output") and hasattr(value, "updated_state")


def load_extra_deps(config_dir: Path | None) -> None:
    """Import the modules named by `OUMI_EXTRA_DEPS_FILE` and by `extra_deps.txt` next to the config."""
    files: list[tuple[Path, str]] = []
    named = os.environ.get(EXTRA_DEPS_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"{EXTRA_DEPS_ENV} names {named!r}, which is not a file",
                hint=f"point {EXTRA_DEPS_ENV} at a file listing executor modules, one path per line, or unset it",
            )
        files.append((path, f"${EXTRA_DEPS_ENV}"))
    if config_dir is not None and (config_dir / EXTRA_DEPS_FILE).is_file():
        files.append((config_dir / EXTRA_DEPS_FILE, str(config_dir / EXTRA_DEPS_FILE)))
    for file, label in files:
        resolved = file.resolve()
        if resolved in _LOADED_DEPS:
            continue
        _LOADED_DEPS.add(resolved)
        for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if line and not line.startswith("#"):
                _import_dep(line, config_dir, f"{label}:{number}")


def _import_dep(line: str, config_dir: Path | None, where: str) -> None:
    candidates = [Path(line)]
    if config_dir is not None:
        candidates += [config_dir / line, config_dir / Path(line).name]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        looked = ", ".join(str(c) for c in candidates)
        raise ConfigError(
            f"{where}: executor module {line!r} not found (looked for {looked})",
            hint="list .py files relative to the working directory or to the config's directory",
        )
    install_oumi_shim()
    # oumi imports the file by its stem (its directory appended to sys.path); envsim loads it by path under
    # a name unique to the file (its directory still on sys.path), so two configs' `executors.py` can
    # both be loaded in one process.
    try:
        load_module(str(found.resolve()), None)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}", hint=exc.hint) from exc


def resolve_executor(name: str, tool_id: str, config_dir: Path | None) -> Executor:
    """The callable an `executor:` names: a registered name wins, else a dotted import path."""
    install_oumi_shim()
    load_extra_deps(config_dir)
    registered = _REGISTERED.get(name.lower()) or _oumi_registered(name)
    if registered is not None:
        return registered
    module_path, _, attr = name.rpartition(".")
    if not module_path or not attr:
        raise ConfigError(
            f"tool {tool_id!r}: executor {name!r} is neither a registered executor nor a dotted path",
            hint="write module.function (e.g. executors.lookup_patient), or list the module that registers "
            f"it in {EXTRA_DEPS_FILE} next to the config",
        )
    module = _import_executor_module(module_path, tool_id, config_dir)
    target = getattr(module, attr, None)
    if target is None:
        # Importing the module may have registered the name (oumi's executor files do).
        target = _REGISTERED.get(name.lower())
    if target is None or not callable(target):
        known = ", ".join(sorted(_REGISTERED)) or "(none)"
        raise ConfigError(
            f"tool {tool_id!r}: executor {name!r}: module {module_path!r} has no function {attr!r}",
            hint=f"check the name; registered executors: {known}",
        )
    return target


def _import_executor_module(module_path: str, tool_id: str, config_dir: Path | None) -> types.ModuleType:
    local = (config_dir / Path(*module_path.split("."))).with_suffix(".py") if config_dir else None
    try:
        return importlib.import_module(module_path)
    except ModuleNotFoundError:
        if local is not None and local.is_file():
            return load_module(str(local), None)
        known = ", ".join(sorted(_REGISTERED)) or "(none)"
        raise ConfigError(
            f"tool {tool_id!r}: executor module {module_path!r} cannot be imported and is not registered",
            hint=f"put {module_path.replace('.', '/')}.py next to the config, list it in {EXTRA_DEPS_FILE}, or "
            f"install it; registered executors: {known}",
        ) from None
    except Exception as exc:
        raise ConfigError(f"tool {tool_id!r}: importing {module_path!r} failed: {type(exc).__name__}: {exc}") from exc


def _oumi_registered(name: str) -> Executor | None:
    """An executor registered with a real oumi install, if oumi is installed."""
    registry = sys.modules.get("oumi.core.registry")
    if registry is None or getattr(registry, "register_tool_executor", None) is register_tool_executor:
        return None
    try:
        found = registry.REGISTRY.get(name, registry.RegistryType.TOOL_EXECUTOR)  # type: ignore[attr-defined]
    except Exception:  # an oumi without that registry type: nothing registered there
        return None
    return found if callable(found) else None
