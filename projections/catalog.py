"""Every read model."""

from __future__ import annotations

from commonroom.projections.attendance import AttendanceView
from commonroom.projections.expertise import ExpertiseView
from commonroom.projections.graph import GraphView
from commonroom.projections.mentoring import MentoringView
from commonroom.projections.notifications import NotificationsView
from commonroom.projections.people import PeopleView
from commonroom.projections.schedule import ScheduleView
from commonroom.projections.trades import TradesView


def all_views() -> list:
    """A fresh instance of every read model, in the order they are applied."""
    return [PeopleView(), ScheduleView(), AttendanceView(), NotificationsView(), TradesView(), MentoringView(),
            ExpertiseView(), GraphView()]
