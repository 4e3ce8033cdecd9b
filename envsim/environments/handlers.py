"""Finding the Python code of python environments: "package.module:function" or "relative/file.py:function".

File references resolve against the catalog file's directory and load under a stable module name
derived from the absolute path, so loading the same file twice (every conversation builds fresh
environments) reuses the module instead of re-executing it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from envsim.errors import ConfigError

_FORMAT_HINT = 'write it as "package.module:function" or as "relative/path/file.py:function"'


def is_file_reference(module_ref: str) -> bool:
    return module_ref.endswith(".py") or "/" in module_ref or "\\" in module_ref


def load_module(module_ref: str, base_dir: Path | None) -> ModuleType:
    """Import a dotted module or load a `.py` file (relative to `base_dir`, default the cwd)."""
    if is_file_reference(module_ref):
        return _load_file(module_ref, base_dir)
    try:
        return importlib.import_module(module_ref)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import module {module_ref!r}: {exc}",
            hint="make sure the package is installed or on PYTHONPATH, or name a file such as tools.py "
            "relative to the catalog file",
        ) from exc
    except Exception as exc:  # the user's module failed while importing
        raise ConfigError(f"importing module {module_ref!r} failed: {type(exc).__name__}: {exc}") from exc


def load_callable(handler: str, base_dir: Path | None) -> Callable[..., Any]:
    """Resolve a handler reference to the callable it names."""
    module_ref, sep, attribute = handler.rpartition(":")
    if not sep or not module_ref or not attribute:
        raise ConfigError(f"handler {handler!r} does not name a function", hint=_FORMAT_HINT)
    module = load_module(module_ref, base_dir)
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"handler {handler!r}: {module_ref!r} has no attribute {attribute!r}",
                hint="check the function name after the colon",
            ) from None
    if not callable(target):
        raise ConfigError(f"handler {handler!r} names a {type(target).__name__}, not a function", hint=_FORMAT_HINT)
    return target


def _load_file(module_ref: str, base_dir: Path | None) -> ModuleType:
    path = ((base_dir or Path.cwd()) / module_ref).resolve()
    if not path.is_file():
        raise ConfigError(
            f"tool module file {module_ref!r} not found (looked for {path})",
            hint="file paths are relative to the directory of the catalog/config file that names them",
        )
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:12]
    name = f"envsim_user_tools_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{digest}"
    cached = sys.modules.get(name)
    if cached is not None:
        return cached
    # Like pytest's rootdir insertion: a tool file may import helper modules that sit next to it.
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path} as a Python module", hint="name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses / pydantic look their module up while defining
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"loading tool module {path} failed: {type(exc).__name__}: {exc}") from exc
    return module
