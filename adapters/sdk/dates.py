"""Dates as department systems write them: the forms are the department's, the parsing is shared."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

# What registers and certificates print: ``20150101``, ``2015-01-01`` (also ``2015.1.1`` and
# ``2015/01/01``) and ``2015年1月1日``. Each form captures year, month and day.
DATE_FORMS = (
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


def parse_date(text: str, forms: Sequence[re.Pattern[str]] = DATE_FORMS) -> date | None:
    """The date ``text`` writes in the first of ``forms`` it matches; None if it matches none, or names
    no day of the calendar (``2015-02-30``)."""
    for form in forms:
        match = form.match(text.strip())
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None


def iso_date(text: str, forms: Sequence[re.Pattern[str]] = DATE_FORMS) -> str:
    """The date as YYYY-MM-DD, or the text unchanged when it is no date (the catalog check reports it)."""
    parsed = parse_date(text, forms) if text else None
    return parsed.isoformat() if parsed else text
