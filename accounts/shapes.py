"""Shape checks for a pasted credential set, before anything talks to OKX.

OKX API keys are UUID-like (36 characters), secret keys are typically 32 uppercase hex digits,
passphrases are 8-32 characters chosen by the user. The checks are tolerant of other lengths
within reason; they refuse what cannot be a credential: control characters, inner whitespace,
absurd lengths. Surrounding whitespace (a pasted newline) is stripped and reported. Messages
describe the problem, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UUID_LIKE = re.compile(r"^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$")
HEX_32 = re.compile(r"^[0-9A-F]{32}$")
PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Shape:
    label: str
    min_length: int
    max_length: int
    typical: re.Pattern[str] | None
    typical_text: str


SHAPES = {
    "api_key": Shape("API key", 16, 64, UUID_LIKE, "a 36-character UUID-like key"),
    "secret_key": Shape("Secret key", 16, 128, HEX_32, "32 uppercase hexadecimal characters"),
    "passphrase": Shape("Passphrase", 8, 32, None, ""),
}


class ShapeError(ValueError):
    pass


@dataclass(frozen=True)
class Checked:
    value: str
    notes: tuple[str, ...]


def check_shape(field: str, raw: str) -> Checked:
    """Normalise one credential field; ShapeError says what is wrong with it (never the value)."""
    shape = SHAPES[field]
    value = raw.strip()
    notes: list[str] = []
    if value != raw:
        notes.append(f"{shape.label}: surrounding whitespace was removed.")
    if not value:
        raise ShapeError(f"{shape.label} is empty.")
    if any(ch.isspace() for ch in value):
        raise ShapeError(f"{shape.label} contains whitespace inside it; paste it again in one piece.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ShapeError(f"{shape.label} contains control characters.")
    if not PRINTABLE_ASCII.match(value):
        raise ShapeError(f"{shape.label} contains characters outside printable ASCII.")
    if not shape.min_length <= len(value) <= shape.max_length:
        raise ShapeError(
            f"{shape.label} is {len(value)} characters long; expected "
            f"{shape.min_length}-{shape.max_length}"
            + (f" (typically {shape.typical_text})." if shape.typical else ".")
        )
    if shape.typical and not shape.typical.match(value):
        notes.append(f"{shape.label} is not {shape.typical_text}; OKX will be asked whether it is valid.")
    return Checked(value, tuple(notes))
