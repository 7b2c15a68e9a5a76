"""Text both databases can store and both protocols can carry, checked in remote input.

PostgreSQL refuses U+0000 in text, and a lone surrogate (valid in JSON's ``\\ud800``
escapes, invalid in UTF-8) cannot be encoded for either database or re-sent as JSON to
the other side. Either would make an event fail on every retry, so such events are
refused up front with a reason instead.
"""

from __future__ import annotations

import re

# Deeper than any event or message document the bridge reads; deeper input is hostile and
# would cost recursion in every JSON encoder that touches it later.
MAX_DEPTH = 32
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: object) -> str | None:
    """Why ``value`` (a JSON value) holds unusable text, or None; walks it without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if _BAD_CHAR.search(item):
                return "text holds a NUL character or a lone surrogate"
        elif isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None
