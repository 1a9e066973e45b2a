"""Givens for the JSON API tests: peers with tokens, a running programme, talks in lunch slots."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import pytest
from support import next_weekday, start_programme
from commonroom.platform.services import SYSTEM_ACTOR

API = "/api/v1"


class Api:
    """Drives the API as a client would; reaches into the services only for givens the API does
    not offer (granting the organizer role, starting the programme)."""

    def __init__(self, client, app) -> None:
        self.client, self.app = client, app
        self.services = app.extensions["commonroom"]

    # --- calls ----------------------------------------------------------------------------------
    def get(self, path: str, who: dict | None = None, **kwargs):
        return self.client.get(API + path, headers=who or {}, **kwargs)

    def post(self, path: str, body=None, who: dict | None = None, **kwargs):
        return self.client.post(API + path, json=body, headers=who or {}, **kwargs)

    def patch(self, path: str, body=None, who: dict | None = None):
        return self.client.patch(API + path, json=body, headers=who or {})

    def delete(self, path: str, who: dict | None = None):
        return self.client.delete(API + path, headers=who or {})

    def head(self) -> int:
        """The event store's last notification id: unchanged means nothing was recorded."""
        return self.services.store.max_notification_id()

    # --- givens ---------------------------------------------------------------------------------
    def peer(self, name: str = "Ada Lovelace", email: str | None = None, password: str = "correct horse",
             organizer: bool = False) -> tuple[UUID, dict]:
        """A registered peer and the Authorization header that acts as them."""
        email = email or f"{name.split()[0].lower()}@example.org"
        registered = self.post("/peers", {"name": name, "email": email, "department": "Audit",
                                          "password": password, "timezone": "Europe/London"})
        assert registered.status_code == 201, registered.json
        peer_id = UUID(registered.json["id"])
        if organizer:
            self.services.settle(self.services.people.grant_organizer(peer_id, by=SYSTEM_ACTOR))
        token = self.post("/tokens", {"email": email, "password": password}).json["token"]
        return peer_id, {"Authorization": f"Bearer {token}"}

    def programme(self, organizer: UUID, rooms=(("Blue room", 5),)) -> None:
        start_programme(self.services, organizer, rooms=rooms)

    def day_off(self, organizer: UUID, day: date, reason: str = "Office closed") -> None:
        self.services.programme.change(lambda p: p.add_day_off(day, reason, by=organizer), by=organizer)
        self.services.settle()

    def talk(self, who: dict, title: str = "Bayesian coffee", topics=("statistics",)) -> str:
        proposed = self.post("/talks", {"title": title, "abstract": "Why priors matter.", "topics": list(topics)},
                             who=who)
        assert proposed.status_code == 201, proposed.json
        return proposed.json["id"]

    def scheduled_talk(self, who: dict, day: date | None = None, room_id: str = "blue-room", **kwargs) -> str:
        talk_id = self.talk(who, **kwargs)
        scheduled = self.post(f"/talks/{talk_id}/schedule", {"day": (day or next_weekday()).isoformat(),
                                                             "room_id": room_id}, who=who)
        assert scheduled.status_code == 200, scheduled.json
        return talk_id

    def audience(self, talk_id: str, *names: str) -> list[tuple[UUID, dict]]:
        """New peers, each signed up for the talk in the order named."""
        peers = [self.peer(name) for name in names]
        for _, who in peers:
            assert self.post(f"/talks/{talk_id}/signups", who=who).status_code == 201
        return peers

    def after_start_of(self, talk_id: str, clock) -> None:
        starts_at = datetime.fromisoformat(self.get(f"/talks/{talk_id}").json["starts_at"])
        clock.set(starts_at + timedelta(minutes=45))


@pytest.fixture
def api(client, app) -> Api:
    return Api(client, app)
