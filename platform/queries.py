"""Read-side queries over the read models (pages and the API share these; never load aggregates)."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa

from commonroom.projections.attendance import SignUpRow
from commonroom.projections.people import PeerRow
from commonroom.projections.schedule import RoomRow, TalkRow


def talk_rows_query():
    return (
        sa.select(TalkRow, PeerRow.name.label("speaker_name"), RoomRow.name.label("room_name"))
        .join(PeerRow, PeerRow.id == TalkRow.speaker_id, isouter=True)
        .join(RoomRow, RoomRow.id == TalkRow.room_id, isouter=True)
    )


def upcoming_talks(engine: sa.Engine, limit: int = 20, now=None) -> list:
    from datetime import datetime, timezone

    now = now or datetime.now(timezone.utc)
    query = (talk_rows_query().where(TalkRow.status == "scheduled", TalkRow.starts_at >= now)
             .order_by(TalkRow.starts_at).limit(limit))
    with engine.connect() as c:
        return c.execute(query).all()


def signups_of_peer(engine: sa.Engine, peer_id: UUID) -> list:
    query = (
        sa.select(SignUpRow, TalkRow.title, TalkRow.starts_at, TalkRow.status.label("talk_status"))
        .join(TalkRow, TalkRow.id == SignUpRow.talk_id)
        .where(SignUpRow.peer_id == str(peer_id), SignUpRow.status != "cancelled")
        .order_by(TalkRow.starts_at.desc())
    )
    with engine.connect() as c:
        return c.execute(query).all()
