"""Injected faults: per endpoint (or "*"), for the next N calls or with a probability."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import replace

from .scenario import Fault


class FaultBook:
    def __init__(self, seed: int = 1):
        self._faults: list[Fault] = []
        self._rng = random.Random(f"faults:{seed}")  # seeded, so a scenario's faults replay alike
        self._lock = threading.Lock()
        # Hits per fault, by injection order (0 = the first added), so a test can compare what
        # the exchange did with what the client recorded.
        self._order: dict[int, int] = {}
        self._hits: Counter[int] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            copy = replace(fault)
            self._order[id(copy)] = len(self._order)
            self._faults.append(copy)

    def hits(self) -> dict[int, int]:
        """How many calls each fault hit, by injection order (faults never hit are left out)."""
        with self._lock:
            return dict(self._hits)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """The fault that hits this call, if any; consumes one of its `times` (None = unlimited).
        The first matching fault in injection order wins."""
        with self._lock:
            for fault in self._faults:
                if fault.path not in (path, "*"):
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                self._hits[self._order[id(fault)]] += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None
