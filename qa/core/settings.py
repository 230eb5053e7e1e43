"""Settings: what shapes an answer, and the fingerprint that names it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def fingerprint(value: Any) -> str:
    """A short, stable hash of `value` (dataclasses, mappings, sequences, scalars): the same
    settings give the same fingerprint in every process, so a saved result says what produced
    it. Key order does not matter; a changed value changes it."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return plain(dataclasses.asdict(v))
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    text = json.dumps(plain(value), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
