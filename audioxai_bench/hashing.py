"""Short, stable content hashes of settings: the keys of caches, records and artefacts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def config_hash(config: Mapping[str, Any]) -> str:
    """A 16-hex-digit hash of JSON-able settings (keys sorted; non-JSON values by ``repr``)."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
