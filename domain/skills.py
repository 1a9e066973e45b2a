"""Skills: one key per free-text skill, alias merges an organizer decides, and endorsements.

A skill typed as "Kubernetes", " kubernetes!" or "KUBERNETES" is one key (``normalise_skill``).
Aliases ("k8s" is Kubernetes) are events on the singleton ``SkillCatalog``, so every read model
applies a merge when it replays the log. An ``Endorsement`` is one peer vouching for one skill of
another (one per pair of peers; it can be revised or withdrawn).

Ranking evidence decays exponentially with age: an item ``HALF_LIFE_DAYS`` old counts half as
much as a fresh one, twice that old a quarter (``decayed``).
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from commonroom.domain.copying import FastCopy
from commonroom.domain.errors import DomainError, InvalidValue, NotAllowed, require_text

CATALOG_ID = uuid5(NAMESPACE_URL, "commonroom:skill-catalog")
HALF_LIFE_DAYS = 180.0

# What one item of evidence is worth before decay (the directory explains each contribution).
DECLARED_WEIGHT = 1.0  # offered on the profile
TALK_GIVEN_BASE = 2.0  # gave a talk on the topic ...
PER_ATTENDEE = 0.5  # ... plus this per person who came ...
PER_RATING_POINT = 1.0  # ... plus this per point the mean rating is above 3 (less when below)
TALK_ATTENDED_WEIGHT = 0.5  # attended a talk on the topic: a learner's signal, weaker
TRADE_TAUGHT_PER_HOUR = 1.0  # taught the topic in a trade session
ENDORSEMENT_WEIGHT = 1.5  # a peer who learned from them vouches for the skill

_DROP = re.compile(r"[^\w\s+#]")  # punctuation that does not change a skill (keep C++ and C#)
_SPACE = re.compile(r"[\s_\-./]+")


def normalise_skill(text: str) -> str:
    """'  Node.JS ' -> 'node js'; 'C++' stays 'c++'; case, spacing and punctuation do not matter."""
    spaced = _SPACE.sub(" ", text.casefold())
    return " ".join(_DROP.sub("", spaced).split())


def skill_key(field: str, text: object) -> tuple[str, str]:
    """Validate free text naming a skill: (key, tidy label) or InvalidValue naming ``field``."""
    label = require_text(field, text, max_len=60)
    key = normalise_skill(label)
    if not key:
        raise InvalidValue(field, f"{field} needs at least one letter or digit")
    return key, label


def talk_given_weight(attendees: int, ratings: list[int]) -> float:
    mean = sum(ratings) / len(ratings) if ratings else 3.0
    return max(0.5, TALK_GIVEN_BASE + PER_ATTENDEE * attendees + PER_RATING_POINT * (mean - 3.0))


def decayed(weight: float, evidence_at: datetime, reference: datetime) -> float:
    """``weight`` halved for every ``HALF_LIFE_DAYS`` between the evidence and the reference moment."""
    age_days = max((reference - evidence_at).total_seconds() / 86400.0, 0.0)
    return weight * 0.5 ** (age_days / HALF_LIFE_DAYS)


def resolve(key: str, aliases: dict[str, str]) -> str:
    """Follow alias merges (k8s -> kubernetes) to the canonical key."""
    seen = {key}
    while key in aliases:
        key = aliases[key]
        if key in seen:  # cannot happen through the catalog; never loop on bad data
            break
        seen.add(key)
    return key


class SkillCatalog(FastCopy, Aggregate):
    """The organisation's skill vocabulary: which names are aliases of which."""

    @staticmethod
    def create_id() -> UUID:
        return CATALOG_ID

    @event("Started")
    def __init__(self, by: UUID) -> None:
        self.aliases: dict[str, str] = {}

    def merge_alias(self, alias: object, into: object, by: UUID) -> None:
        alias_key, alias_label = skill_key("alias", alias)
        into_key, into_label = skill_key("into", into)
        target = resolve(into_key, self.aliases)
        if alias_key == target:
            raise InvalidValue("into", f"{alias_label!r} and {into_label!r} are already the same skill")
        if alias_key in self.aliases:
            raise AliasTaken("alias", f"{alias_label!r} is already merged into {self.aliases[alias_key]!r}")
        self._alias_merged(alias_key=alias_key, alias_label=alias_label, into_key=target,
                           into_label=into_label, by=by)

    @event("AliasMerged")
    def _alias_merged(self, alias_key: str, alias_label: str, into_key: str, into_label: str, by: UUID) -> None:
        self.aliases[alias_key] = into_key


def endorsement_id(endorser_id: UUID, endorsee_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"commonroom:endorsement:{endorser_id}:{endorsee_id}")


class Endorsement(FastCopy, Aggregate):
    """``endorser`` vouches for one skill of ``endorsee`` (one endorsement per pair, revisable)."""

    @staticmethod
    def create_id(endorser_id: UUID, endorsee_id: UUID) -> UUID:
        return endorsement_id(endorser_id, endorsee_id)

    @staticmethod
    def validate(endorser_id: UUID, endorsee_id: UUID, skill: object, sentence: object) -> tuple[str, str]:
        if endorser_id == endorsee_id:
            raise NotAllowed("you cannot endorse yourself")
        _, label = skill_key("skill", skill)
        return label, require_text("sentence", sentence or "", min_len=0, max_len=280)

    @event("Given")
    def __init__(self, endorser_id: UUID, endorsee_id: UUID, skill: str, sentence: str, by: UUID) -> None:
        self.endorser_id, self.endorsee_id = endorser_id, endorsee_id
        self.skill, self.sentence, self.active = skill, sentence, True

    def revise(self, skill: str, sentence: str, by: UUID) -> None:
        if self.active and (skill, sentence) == (self.skill, self.sentence):
            return
        self._revised(skill=skill, sentence=sentence, by=by)

    @event("Revised")
    def _revised(self, skill: str, sentence: str, by: UUID) -> None:
        self.skill, self.sentence, self.active = skill, sentence, True

    def withdraw(self, by: UUID) -> None:
        if not self.active:
            raise EndorsementNotActive("this endorsement was already withdrawn")
        self._withdrawn(by=by)

    @event("Withdrawn")
    def _withdrawn(self, by: UUID) -> None:
        self.active = False


class AliasTaken(InvalidValue):
    status = 409


class EndorsementNotActive(DomainError):
    pass
