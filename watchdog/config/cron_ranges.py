"""A cron's ranges as a user means them: `sun` ending a weekday range is its last day, and a range
written backwards is refused saying what to write. cronsim (the cron reader, triggers/cron.py)
reads `sun` as 0 only, so `sat-sun` (6-0) ran backwards and was refused with a bare "Bad
day-of-week": the weekend cron every operator writes, and the docs' own advice `fri-sun,mon`."""

from __future__ import annotations

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# Per field (minute, hour, day-of-month, month, day-of-week): the first and last values a range
# can wrap at, and the names the field takes. A weekday range wraps at Sunday as 7 and goes on
# from Monday (`fri-mon`: `fri-sun,mon`).
_BOUNDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (1, 7, _DAYS),
)


def with_sunday_last(expr: str) -> str:
    """`expr` with each weekday range ending in `sun` ending in 7 (`sat-sun`: `sat-7`), as cronie
    reads it and as everyone writing it means it; `sun-sun` and `0-sun` stay Sunday alone. The
    expression as given when no range ends so (a cron of other than five fields included)."""
    fields = expr.split()
    if len(fields) != 5:
        return expr
    terms = []
    for term in fields[4].split(","):
        body, slash, step = term.partition("/")
        start, dash, end = body.partition("-")
        if dash and end.casefold() == "sun" and start.casefold() not in ("sun", "0"):
            body = f"{start}-7"
        terms.append(body + slash + step)
    weekdays = ",".join(terms)
    return expr if weekdays == fields[4] else " ".join([*fields[:4], weekdays])


def backwards_range(fields: list[str]) -> str | None:
    """What to write for the first range of the five fields that runs backwards (`nov-feb`:
    `nov-dec,jan-feb`), named as cronsim names its field (`Bad month: ...`), or None."""
    names = ("minute", "hour", "day-of-month", "month", "day-of-week")
    for name, field, (first, last, words) in zip(names, fields, _BOUNDS, strict=False):
        for term in field.split(","):
            start, dash, end = term.partition("-")
            low, high = _value(start, words), _value(end, words)
            if not dash or "/" in term or low is None or high is None or low <= high:
                continue
            named = start.casefold() in words or end.casefold() in words
            top, bottom = (_name(last, words), _name(first, words)) if named else (str(last), str(first))
            if words is _DAYS and high == 0:  # `sat-0`: Sunday as 7 ends it
                instead = f"{start}-{top}"
            elif words is _DAYS and low == 7:  # `7-1`: Sunday as 0 starts it (not `7-7,1`)
                instead = f"0-{end}"
            else:
                instead = f"{start}-{top},{end if high == first else f'{bottom}-{end}'}"
            return f"Bad {name}: `{term}` runs backwards (a range goes up): write `{instead}`"
    return None


def _name(value: int, words: tuple[str, ...]) -> str:
    return words[value - 1] if words is _MONTHS else words[value % len(words)]


def _value(text: str, words: tuple[str, ...]) -> int | None:
    if text.casefold() in words:
        index = words.index(text.casefold())
        return index + 1 if words is _MONTHS else index
    return int(text) if text.isdigit() else None
