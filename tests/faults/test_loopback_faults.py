"""The fault matrix over real sockets: faults that need a connection to cut."""

from __future__ import annotations

import pytest

from .cases import LOOPBACK_CASES, FaultCase
from .checks import check_all
from .loopback import play_loopback

pytestmark = pytest.mark.process


@pytest.mark.parametrize("case", LOOPBACK_CASES, ids=lambda case: case.id)
async def test_the_daemon_survives_the_fault(case: FaultCase) -> None:
    check_all(case, await play_loopback(case))
