"""Text from outside, made safe to show an operator: one line of visible characters, bounded.

A token's claims are chosen by whoever sends the token, and they reach a log line, the doctor's
report and error messages. Shown raw, a claim could end the line and forge another one (a fake
`[PASS]` line in the report, a fake entry in the log), or carry terminal escape codes that
recolour or rewrite what the operator sees, or be megabytes long. Every value that did not come
from this service's own code goes through `printable` before it is shown.
"""

from __future__ import annotations

from typing import Final

_ELLIPSIS: Final = "..."


def printable(value: object, limit: int = 80, *, quoted: bool = False) -> str:
    """`value` as at most `limit` visible characters on one line.

    Strings are escaped as Python's `repr` escapes them: control characters, line breaks
    (including U+2028), invisible and bidirectional formatting characters become `\\n`,
    `\\x1b`, `\\u202e`, ..., and a backslash becomes `\\\\`, so what is shown cannot be
    mistaken for an escape that was not there. `quoted` keeps `repr`'s quotes, which show where
    the value starts and ends. Other values (numbers, JSON arrays and objects) are shown as
    their `repr`, whose strings are escaped the same way. Longer results end in `...`.
    """
    if isinstance(value, str):
        # Cut before escaping: a huge claim costs no more than a short one.
        text = repr(value[: limit + 1])
        if not quoted:
            text = text[1:-1]
        elif len(value) > limit:
            text = text[:-1]  # the closing quote would claim the value ends here
    else:
        try:
            text = repr(value)
        except ValueError:  # an integer with more digits than Python converts
            text = f"<{type(value).__name__} too large to show>"
        if not text.isprintable():  # the repr of a type JSON does not produce: escape it as a string
            text = repr(text)[1:-1]
    if len(text) <= limit:
        return text
    return text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS
