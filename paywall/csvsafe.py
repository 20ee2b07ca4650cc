"""CSV that a spreadsheet opens as text: no cell it would run as a formula (CSV injection).

Excel, LibreOffice and Google Sheets run a cell that starts with =, +, - or @ (or a tab or a
carriage return before one) as a formula, and `=cmd|'/Ccalc'!A0@example.com` is a valid email
address as well as a name. As OWASP advises, such a cell gets a ' in front, which makes it
text (https://owasp.org/www-community/attacks/CSV_Injection). Every CSV the app writes goes
through writer(); the member import reads cells through unguard(), so an export imports back
as it was.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _needs_guard(text: str) -> bool:
    # Leading 's are looked through, so a cell that was written with one ('=…, kept as ''=…)
    # is told apart from one we guarded (=…, written '=…) when it is read back.
    return text.lstrip("'").startswith(FORMULA_STARTS)


def guard(cell: object) -> str:
    """The cell as text a spreadsheet will not run: a ' before anything that would."""
    text = "" if cell is None else str(cell)
    return f"'{text}" if _needs_guard(text) else text


def unguard(cell: str) -> str:
    """What guard() was given: its ' taken off again (a ' someone typed stays)."""
    return cell[1:] if cell.startswith("'") and _needs_guard(cell[1:]) else cell


class Writer:
    """csv.writer with every cell guarded."""

    def __init__(self, buffer: TextIO) -> None:
        self._writer = csv.writer(buffer)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([guard(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
