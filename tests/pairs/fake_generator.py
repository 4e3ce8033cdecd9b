"""A stand-in generator for pairs jobs: valid replies whose closeness to the seeds follows temperature.

At temperature t each word of a new input is a word of the example inputs with probability
max(0, 1 - t / 1.3), else a word from a large pool; so CONSERVATIVE jobs stay near the seeds and
ADVENTUROUS ones do not, and the diversity figures must show it. Responder calls (no schema) echo.
"""

from __future__ import annotations

import json
import random
import re

from envsim.models.base import ModelRequest

POOL = [
    f"{a}{b}"
    for a in ("bra", "cle", "dro", "fin", "glo", "hup", "jal", "kor", "lum", "mev")
    for b in ("ton", "per", "sik", "dal", "mun", "rov", "tez", "wil", "yob", "zan", "qua", "xer")
]


def user_text(request: ModelRequest) -> str:
    return next(m.content or "" for m in reversed(request.messages) if m.role == "user")


def reply(request: ModelRequest) -> str:
    text = user_text(request)
    schema = request.response_schema or {}
    properties = schema.get("properties", {})
    if not properties:
        return f"Answer to: {text}"
    count = int(re.search(r"Write (\d+) new", text).group(1))  # type: ignore[union-attr]
    seed_words = re.findall(r"[a-z]+", " ".join(re.findall(r"<input>(.*?)</input>", text)).lower()) or ["x"]
    temperature = request.params.temperature if request.params.temperature is not None else 1.0
    rng = random.Random(f"{request.params.seed}:{temperature}:{len(text)}")
    stay = max(0.0, 1 - temperature / 1.3)
    inputs = []
    for _ in range(count):
        words = [rng.choice(seed_words) if rng.random() < stay else rng.choice(POOL) for _ in range(8)]
        inputs.append(" ".join(words).capitalize() + "?")
    if "inputs" in properties:
        return json.dumps({"inputs": inputs})
    return json.dumps({"pairs": [{"llm_input": i, "llm_output": f"Generated answer to {i}"} for i in inputs]})
