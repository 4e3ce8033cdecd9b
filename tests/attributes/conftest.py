"""Helpers for attribute tests: configs from a strategy_params dict, fixture files made on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import SynthConfig

MakeConfig = Callable[..., SynthConfig]


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """`make_config(strategy_params, num_samples=..)`: a SynthConfig that lives in tmp_path/config.yaml."""

    def make(strategy_params: dict[str, Any], **top: Any) -> SynthConfig:
        config = SynthConfig.model_validate(
            {"inference_config": {"model": {"model_name": "scripted"}}, "strategy_params": strategy_params, **top}
        )
        config.source_path = str(tmp_path / "config.yaml")
        return config

    return make


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` in Helvetica, with a correct xref table."""
    stream = f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def make_pdf() -> Callable[[str], bytes]:
    return minimal_pdf
