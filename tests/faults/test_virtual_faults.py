"""The fault matrix on virtual time: each API failure for two minutes of a five-minute run."""

from __future__ import annotations

import pytest

from bench import virtualtime

from .cases import VIRTUAL_CASES, FaultCase
from .checks import check_all
from .virtual import play


@pytest.mark.parametrize("case", VIRTUAL_CASES, ids=lambda case: case.id)
def test_the_daemon_survives_the_fault(case: FaultCase) -> None:
    check_all(case, virtualtime.run(play(case)))
