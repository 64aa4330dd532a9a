"""Hints for a name that names nothing: what to add to `unknown cluster 'LABEL'` or "connector
NAME is not in the listing", for the API's refusals and the CLI's (split from report.py, which
renders what exists)."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Container, Iterable, Mapping

from .config.stray_variables import CLOSE_MATCH
from .report import ClusterPlace


def cluster_name_hint(label: str, places: Mapping[str, ClusterPlace], *, discovery: bool, listed_by: str) -> str:
    """What to add to `unknown cluster 'LABEL'` (a restart or a history asked for by a cluster no
    name answers to). A discovered cluster is named by its lkc- id, while people know it by its
    display name (the Confluent console's, and what `watchdog status` shows beside the id):
    `orders` was answered `unknown cluster 'orders'` and a list of ids, or, without a daemon,
    `configured: ` and nothing. A display name of a watched cluster (in `places`, in any letter
    case) names it; with discovery on, any other label is told how discovered clusters are
    named, and `listed_by` what shows them with their display names. "" without discovery."""
    folded = label.casefold()
    named = sorted(name for name, place in places.items()
                   if place.display_name is not None and place.display_name.casefold() == folded)
    if named:
        return f"; it is the display name of {', '.join(named)}: a discovered cluster is named by its lkc- id"
    if discovery:
        return f"; a discovered cluster is named by its lkc- id, not its display name ({listed_by} shows both)"
    return ""


def connector_name_hint(name: str, listed: Iterable[str], *, folded: FoldedListing | None = None,
                        close: bool = True) -> str:
    """What to add to "connector NAME is not in the listing" of a restart asked for by name, or
    of an alert whose label names no listed connector: the listed names it differs from only in
    Unicode normalisation, then those it differs from only in letter case, surrounding spaces
    or invisible characters (`SINK-024`, `sink-022 `, `sink-016` and a zero-width space), then
    the closest (`orders-snik`: `did you mean 'orders-sink'?`), or "". Over a cluster's whole
    listing (up to api.max_listed_connectors, 20,000 names: 70 ms for the closest), so the API
    asks it off the event loop; the alert path passes its listing's `folded` index (built once
    per listing) and asks for the closest (`close`) only where that is cheap."""
    import difflib

    names = list(listed) if folded is None or close else []
    if folded is None:
        nfc = unicodedata.normalize("NFC", name)
        same = [] if name.isascii() else [c for c in names if c != name and unicodedata.normalize("NFC", c) == nfc]
    else:  # two look-ups, not a scan
        same = [other] if (other := other_form_listed(name, folded.listed)) is not None else []
    if same:
        return "; " + "; ".join(normalisation_note(name, c) for c in same[:3])
    alike = (folded or FoldedListing(names)).alike(name)
    if alike:
        return (f"; did you mean {' or '.join(repr(c) for c in alike[:3])}? (it differs from the name asked only in "
                "letter case, spaces around it or invisible characters: connector names are matched exactly, as the "
                "Connect API matches them)")
    if not close:
        return ""
    # As close as the config's misspelt keys and WATCHDOG_* variables are held to theirs.
    nearest = difflib.get_close_matches(name, names, n=3, cutoff=CLOSE_MATCH)
    return f"; did you mean {' or '.join(repr(c) for c in nearest)}?" if nearest else ""


def folded_name(name: str) -> str:
    """`name` as a person reading it sees it: without surrounding whitespace or invisible
    (format) characters such as the zero-width space, in one letter case. Two names equal so
    are not the same connector (Connect compares exact strings), but one was meant for the
    other: a Prometheus template that added a space, a label a recording rule upper-cased, a
    copy-pasted zero-width character. difflib's ratio put a case change below its cutoff."""
    visible = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c) != "Cf")
    return visible.strip().casefold()


class FoldedListing:
    """A cluster listing's names by folded_name: built once per listing (the alert path keeps
    one per cluster, engine/alert_answers.py), so each unmatched alert's look-up is one dict
    access, not a pass over 20,000 names."""

    def __init__(self, listed: Collection[str]) -> None:
        self.listed = listed
        self._by_folded: dict[str, list[str]] = {}
        for listed_name in listed:
            self._by_folded.setdefault(folded_name(listed_name), []).append(listed_name)

    def alike(self, name: str) -> list[str]:
        """The listed names other than `name` that fold to what it folds to, sorted."""
        return sorted(c for c in self._by_folded.get(folded_name(name), ()) if c != name)


# Names that differ only in Unicode normalisation (`zürich-sink` typed or templated as NFD, u and
# U+0308, where the connector was created NFC) are said to differ, not matched. Confluent and Kafka
# Connect compare names as exact strings: both forms can be two connectors, and a restart must
# address the listed name exactly. Taken as the listed one, an alert or a restart of the NFD name
# created since the last listing would have restarted the other connector. The "did you mean" of
# such a name printed back the same-looking name and read as nonsense: the note shows both
# escaped, and says how they differ, so the sender (a template, a macOS keyboard) can be fixed.


def other_form_listed(name: str, listed: Container[str]) -> str | None:
    """A listed name that is `name` in another Unicode normalisation form (NFC or NFD), or None.
    Two look-ups, not a scan: what an alert whose name no listing showed is told."""
    if name.isascii():
        return None
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, name)
        if other != name and other in listed:
            return other
    return None


def normalisation_note(name: str, listed_name: str) -> str:
    """How `name` differs from the listed `listed_name` when only their Unicode normalisation
    does: both escaped (they look the same on a screen), each one's form."""
    return (f"{ascii(name)} differs from the listed {ascii(listed_name)} only in Unicode normalisation "
            f"({_form(name)} vs {_form(listed_name)}): connector names are matched exactly, as the Connect API "
            f"matches them; use the listed name")


def _form(name: str) -> str:
    return next((form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, name)), "neither NFC nor NFD")
