"""What the fuzzers (tests/test_fuzz_*.py) share: their hypothesis settings and the mutation of a
valid value (a webhook, an answer, a config) into the odd ones around it."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomized, a fixed number of examples: every run checks the same inputs, in a few seconds.
# FUZZ_EXAMPLES=5000 looks further (with `-o timeout=900`).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


ANY_KEY = st.text(max_size=10)


def mutations(values: st.SearchStrategy[Any], keys: st.SearchStrategy[str] = ANY_KEY) -> Callable[[Any], st.SearchStrategy[Any]]:
    """`mutated(base)`: `base` with, at random, keys dropped, values replaced by `values` or
    mutated in turn, list entries repeated, and keys of `keys` and entries added."""

    @st.composite
    def mutated(draw: st.DrawFn, base: Any) -> Any:
        if isinstance(base, dict):
            out = dict(base)
            for key in list(out):
                choice = draw(st.integers(0, 11))
                if choice == 0:
                    del out[key]
                elif choice == 1:
                    out[key] = draw(values)
                elif choice <= 4:
                    out[key] = draw(mutated(out[key]))
            if draw(st.integers(0, 5)) == 0:
                out[draw(keys)] = draw(values)
            return out
        if isinstance(base, list):
            entries = list(base)
            if entries and draw(st.integers(0, 5)) == 0:
                entries.append(copy.deepcopy(draw(st.sampled_from(entries))))
            return [draw(mutated(v)) if draw(st.booleans()) else v for v in entries] + draw(st.lists(values, max_size=1))
        return draw(values) if draw(st.integers(0, 3)) == 0 else base

    return mutated
