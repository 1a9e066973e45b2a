"""The aggregates' fast deep copy: a command's copy never shares anything it can change."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from uuid import uuid4

from commonroom.domain.copying import FastCopy
from commonroom.domain.talk import Talk


def a_full_talk() -> Talk:
    speaker = uuid4()
    talk = Talk(speaker_id=speaker, title="Priors", abstract="For sceptics.", topics=["statistics"], by=speaker)
    talk.schedule(day=date(2030, 1, 7), room_id="blue", starts_at=datetime(2030, 1, 7, 12, tzinfo=timezone.utc),
                  ends_at=datetime(2030, 1, 7, 12, 30, tzinfo=timezone.utc), capacity=2,
                  now=datetime(2029, 12, 1, tzinfo=timezone.utc), by=speaker)
    for _ in range(5):
        peer = uuid4()
        talk.sign_up(peer, now=datetime(2029, 12, 2, tzinfo=timezone.utc), by=peer)
    talk.collect_events()
    return talk


def test_the_copy_equals_the_original_and_changing_it_leaves_the_original_alone():
    talk = a_full_talk()
    copy = deepcopy(talk)
    assert copy is not talk and vars(copy) == vars(talk)
    assert copy.confirmed is not talk.confirmed and copy.waitlist is not talk.waitlist
    # a command on the copy (what a failed command would leave behind) does not reach the original
    newcomer = uuid4()
    copy.sign_up(newcomer, now=datetime(2029, 12, 3, tzinfo=timezone.utc), by=newcomer)
    assert newcomer in copy.waitlist and newcomer not in talk.waitlist
    assert copy.version == talk.version + 1 and not talk.pending_events


@dataclass
class Box:
    items: list = field(default_factory=list)


class Holder(FastCopy):
    def __init__(self) -> None:
        self.when = time(12, 30)
        self.nested = {"a": [1, 2, {"deep": [3]}], "b": (uuid4(), [4])}
        self.box = Box([5])
        self.same = self.box


def test_values_it_does_not_know_are_still_deep_copied_and_shared_references_stay_shared():
    holder = Holder()
    copy = deepcopy(holder)
    copy.nested["a"][2]["deep"].append(99)
    copy.nested["b"][1].append(99)
    copy.box.items.append(99)
    assert holder.nested == {"a": [1, 2, {"deep": [3]}], "b": (holder.nested["b"][0], [4])}
    assert holder.box.items == [5] and copy.same is copy.box


def test_containers_of_atoms_are_copied_whole_and_containers_of_containers_item_by_item():
    ids = [uuid4() for _ in range(50)]
    holder = Holder()
    holder.ids, holder.seen, holder.frozen = ids, {i: True for i in ids}, tuple(ids)
    holder.rows = [[1], [2]]  # a list of lists: the inner lists must not be shared
    copy = deepcopy(holder)
    assert copy.ids == ids and copy.ids is not ids
    assert copy.seen == holder.seen and copy.seen is not holder.seen
    assert copy.frozen is holder.frozen  # a tuple of atoms cannot change: shared, as deepcopy does
    assert copy.rows == [[1], [2]] and copy.rows[0] is not holder.rows[0]
    copy.ids.append(uuid4())
    copy.rows[0].append(9)
    assert len(holder.ids) == 50 and holder.rows == [[1], [2]]
