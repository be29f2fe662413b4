"""Tables that fit the terminal: the widest columns give way, their cells cut
with an ellipsis, instead of the terminal wrapping rows mid-word.

Kept apart from escaping (printable.py): cells arrive here already escaped.
Stdlib-only and linear in the cells: `list` uses it on a terminal, with
thousands of rows.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Sequence, TextIO

ELLIPSIS = "…"
NARROWEST = 6  # a column cut below this says too little to be worth it


def terminal_width(environ: Mapping[str, str], stream: TextIO) -> int | None:
    """COLUMNS when set (as a shell exports it, and tests do), else the window's width."""
    value = environ.get("COLUMNS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        return None


def fit_widths(widths: list[int], minimum: list[int], room: int) -> list[int]:
    """Column widths whose sum is at most `room`: the widest are narrowed first,
    down to the next widest, and none below its minimum (then the sum may stay over)."""
    widths = list(widths)
    excess = sum(widths) - room
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not shrinkable:
            break
        top = max(widths[i] for i in shrinkable)
        tops = [i for i in shrinkable if widths[i] == top]
        below = max([widths[i] for i in shrinkable if widths[i] < top], default=0)
        # Narrow every widest column by the same step, never past the next widest.
        step = max(1, min(top - below, -(-excess // len(tops))))
        for i in tops:
            cut = min(step, widths[i] - minimum[i], excess)
            widths[i] -= cut
            excess -= cut
            if excess <= 0:
                break
    return widths


def clip(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(0, width - 1)] + ELLIPSIS


def fit_rows(headers, rows: list[list[str]], widths: list[int], limit: int, gap: int,
             keep: Sequence[int] = ()) -> tuple[list[list[str]], list[int]]:
    """The rows and widths cut to `limit` columns in all (cells separated by `gap` spaces);
    the columns in `keep` (a time, say) are never cut."""
    room = limit - gap * (len(widths) - 1)
    if sum(widths) <= room:
        return rows, widths
    minimum = [w if i in keep else max(len(h), min(w, NARROWEST)) for i, (h, w) in enumerate(zip(headers, widths))]
    fitted = fit_widths(widths, minimum, room)
    cut = [i for i, (old, new) in enumerate(zip(widths, fitted)) if new < old]
    for row in rows:
        for i in cut:
            if len(row[i]) > fitted[i]:
                row[i] = clip(row[i], fitted[i])
    return rows, fitted
