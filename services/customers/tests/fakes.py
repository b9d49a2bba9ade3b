from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PublishedEvent:
    event_type: str
    data: dict[str, Any]
    in_transaction: bool
