"""Due dates of an erasure request under each jurisdiction.

- GDPR Art. 12(3): answer "without undue delay and in any event within one month of
  receipt"; extendable by two further months "where necessary", with the reasons given
  to the person within the first month. One month is a calendar month (Regulation
  1182/71 Art. 3(2)(c): the same day of the next month, or its last day if shorter).
- CCPA (11 CCR §7021(a)): confirm receipt within 10 business days; (b) respond within
  45 calendar days, extendable once by up to 45 more days with notice and reason.

Business days are Monday to Friday. Public holidays are out of scope: they differ by
state and year, so the receipt deadline may fall a day or two early, never late.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

DAY_MS = 86_400_000


class Jurisdiction(enum.StrEnum):
    GDPR = "gdpr"
    CCPA = "ccpa"


class DeadlineError(ValueError):
    """An extension the law does not allow."""


@dataclass(frozen=True)
class Deadlines:
    due_ms: int
    receipt_due_ms: int | None  # CCPA only
    max_extension_ms: int  # the latest date an extension may set


def _dt(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later, clamped to the month's last day (31 Jan → 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def add_business_days(start: dt.datetime, days: int) -> dt.datetime:
    """``days`` Mondays-to-Fridays after ``start`` (holidays not counted, see above)."""
    current = start
    left = days
    while left > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def deadlines(jurisdiction: Jurisdiction, received_ms: int) -> Deadlines:
    received = _dt(received_ms)
    if jurisdiction is Jurisdiction.GDPR:
        return Deadlines(
            due_ms=_ms(add_months(received, 1)),
            receipt_due_ms=None,
            max_extension_ms=_ms(add_months(received, 3)),
        )
    return Deadlines(
        due_ms=received_ms + 45 * DAY_MS,
        receipt_due_ms=_ms(add_business_days(received, 10)),
        max_extension_ms=received_ms + 90 * DAY_MS,
    )


def check_extension(
    jurisdiction: Jurisdiction, received_ms: int, new_due_ms: int, reason: str
) -> None:
    """Raise unless ``new_due_ms`` is a lawful extension with a reason."""
    if not reason.strip():
        raise DeadlineError("an extension needs a reason (GDPR Art. 12(3), 11 CCR §7021(b))")
    limits = deadlines(jurisdiction, received_ms)
    if new_due_ms <= limits.due_ms:
        raise DeadlineError("an extension must move the due date later")
    if new_due_ms > limits.max_extension_ms:
        raise DeadlineError(
            f"{jurisdiction.value}: the due date can be extended to at most "
            f"{_dt(limits.max_extension_ms).date().isoformat()}"
        )
