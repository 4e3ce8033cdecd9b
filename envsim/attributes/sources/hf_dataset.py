"""`input_data` paths `hf:<dataset>`: rows of a Hugging Face dataset through the `datasets` library (an
optional dependency: pip install datasets), as oumi reads them: `load_dataset(name, split=hf_split,
revision=hf_revision)`.

Offline: `hf:<directory>` holding a dataset saved with `save_to_disk` is read with `load_from_disk`;
a hub dataset already in the local datasets cache is read from there when the hub cannot be reached;
otherwise one message says what was tried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envsim.attributes.sources.optional import require
from envsim.attributes.sources.pool import to_json_value
from envsim.config.models import DatasetSource
from envsim.errors import DataError

HF_PREFIX = "hf:"


def is_hf_path(path: str) -> bool:
    return path.startswith(HF_PREFIX)


def read_hf_rows(source: DatasetSource, base_dir: Path, *, location: str) -> list[dict[str, Any]]:
    datasets = require("datasets", package="datasets", extra="hf", needed_for="hf: datasets")
    name = source.path[len(HF_PREFIX) :].strip()
    local = (base_dir / name).expanduser()
    if local.is_dir() and ((local / "dataset_info.json").is_file() or (local / "dataset_dict.json").is_file()):
        loaded = datasets.load_from_disk(str(local))
    else:
        loaded = _from_hub(datasets, name, source, location)
    return _rows(_one_split(loaded, source, location), name)


def _from_hub(datasets: Any, name: str, source: DatasetSource, location: str) -> Any:
    try:
        return datasets.load_dataset(name, split=source.hf_split, revision=source.hf_revision)
    except FileNotFoundError as exc:
        raise DataError(f"{location}: Hugging Face dataset {name!r} not found: {exc}") from exc
    except Exception as first:
        try:
            with _offline(datasets):
                return datasets.load_dataset(name, split=source.hf_split, revision=source.hf_revision)
        except Exception:
            raise DataError(
                f"{location}: cannot load Hugging Face dataset {name!r}: the hub could not be reached "
                f"({type(first).__name__}: {str(first)[:200]}) and the dataset is not in the local datasets cache",
                hint="connect to the hub once to fill the cache, or save the dataset with "
                "Dataset.save_to_disk(DIR) and write path: hf:DIR (relative to the config)",
            ) from first


@contextlib.contextmanager
def _offline(datasets: Any) -> Iterator[None]:
    """Hugging Face's offline mode for one call: the cache only, no network."""
    import huggingface_hub.constants as hub

    saved = (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _one_split(loaded: Any, source: DatasetSource, location: str) -> Any:
    if not hasattr(loaded, "keys"):  # a Dataset: already one split
        return loaded
    splits = list(loaded.keys())
    if source.hf_split is not None:
        if source.hf_split not in splits:
            raise DataError(f"{location}.hf_split: split {source.hf_split!r} not found; splits: {', '.join(splits)}")
        return loaded[source.hf_split]
    if len(splits) == 1:
        return loaded[splits[0]]
    raise DataError(
        f"{location}: dataset has several splits ({', '.join(splits)}); say which one to read",
        hint="set hf_split: train (for example)",
    )


def _rows(dataset: Any, name: str) -> list[dict[str, Any]]:
    return [
        {k: to_json_value(v, f"hf:{name}, row {i}, column {k!r}") for k, v in row.items()}
        for i, row in enumerate(dataset.to_list(), start=1)
    ]
