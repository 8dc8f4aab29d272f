"""A faithful local OKX v5 REST exchange for tests, benchmarks and the demo (docs/simulator.md).

Same paths, envelope, signature check, error codes and published rate limits as OKX.
Imports nothing from Django and shares no code with the client (okxapi): its signature check and
its limits table are written on their own from OKX's documentation.
"""

from __future__ import annotations

from .codes import OFFICIAL, ApiError
from .core import Simulator
from .scenario import Account, Fault, Key, Position, Scenario

__all__ = ["OFFICIAL", "Account", "ApiError", "Fault", "Key", "Position", "Scenario", "Simulator"]
