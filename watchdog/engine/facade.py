"""`Engine`: the one object the app, the triggers and the API talk to. Each part lives in its own
module; this class only puts them together on one object (they share its state: the config,
the collaborators and what the polls listed, kept by `EngineCore`)."""

from __future__ import annotations

from .alert_intake import AlertIntake
from .manual_intake import ManualIntake
from .recovery import Recovery
from .schedule_intake import ScheduleIntake
from .stall_intake import StallIntake
from .status_intake import StatusIntake


class Engine(StatusIntake, ScheduleIntake, ManualIntake, AlertIntake, StallIntake, Recovery):
    """Turns facts from triggers into decisions, and decisions into queued restarts."""
