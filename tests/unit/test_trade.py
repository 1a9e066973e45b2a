"""Trade, TradingProfile and TradeCircle rules, in memory."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from commonroom.domain.errors import InvalidValue, NotAllowed
from commonroom.domain.trade import (
    AlreadyReflected, SessionClosed, Trade, TradeCircle, TradeNotOpen, TradingProfile, trading_profile_id,
)

ADA, BOB, EVE = uuid4(), uuid4(), uuid4()
DAY = date(2026, 11, 2)


def proposed(offer="SQL", want="Python") -> Trade:
    return Trade.propose(ADA, BOB, offer, want, "hello")


def active() -> Trade:
    trade = proposed()
    trade.accept(by=BOB)
    return trade


def event_names(trade) -> list[str]:
    return [type(e).__name__ for e in trade.collect_events()]


def test_a_proposal_names_what_is_offered_and_wanted_and_awaits_the_partner():
    trade = proposed()
    assert (trade.offer, trade.want, trade.status, trade.awaiting) == ("SQL", "Python", "proposed", BOB)
    assert not trade.one_sided


def test_a_one_sided_offer_is_allowed_and_known_as_such():
    assert Trade.propose(ADA, BOB, "SQL", "").one_sided


def test_a_proposal_offering_and_wanting_nothing_is_refused_naming_the_field():
    with pytest.raises(InvalidValue) as error:
        Trade.propose(ADA, BOB, " ", "")
    assert error.value.field == "offer"


def test_nobody_trades_with_themselves():
    with pytest.raises(InvalidValue):
        Trade.propose(ADA, ADA, "SQL", "Python")


def test_only_the_partner_can_accept_a_fresh_proposal():
    trade = proposed()
    with pytest.raises(NotAllowed):
        trade.accept(by=ADA)
    with pytest.raises(NotAllowed):
        trade.accept(by=EVE)
    trade.accept(by=BOB)
    assert trade.status == "active"


def test_a_counter_changes_what_is_wanted_and_hands_the_answer_back_to_the_proposer():
    # given a proposal, when the partner counters with something else they would teach
    trade = proposed()
    trade.counter("Rust", by=BOB)
    # then the proposer answers it
    assert (trade.want, trade.awaiting) == ("Rust", ADA)
    with pytest.raises(NotAllowed):
        trade.accept(by=BOB)
    trade.accept(by=ADA)
    assert trade.status == "active"


def test_only_the_partner_counters():
    with pytest.raises(NotAllowed):
        proposed().counter("Rust", by=ADA)


def test_declining_records_an_optional_reason():
    trade = proposed()
    trade.decline("", by=BOB)
    assert trade.status == "declined"
    assert event_names(trade)[-1] == "Declined"


def test_a_declined_trade_cannot_be_accepted():
    trade = proposed()
    trade.decline("busy this month", by=BOB)
    with pytest.raises(TradeNotOpen):
        trade.accept(by=BOB)


def test_the_proposer_withdraws_an_open_proposal_but_the_partner_declines_instead():
    trade = proposed()
    with pytest.raises(NotAllowed):
        trade.withdraw(by=BOB)
    trade.withdraw(by=ADA)
    assert trade.status == "withdrawn"


def test_an_accepted_trade_can_no_longer_be_withdrawn():
    with pytest.raises(TradeNotOpen):
        active().withdraw(by=ADA)


def test_either_party_pauses_and_resumes_an_active_trade():
    trade = active()
    trade.pause(by=BOB)
    assert trade.status == "paused"
    with pytest.raises(TradeNotOpen):
        trade.pause(by=ADA)
    trade.resume(by=ADA)
    assert trade.status == "active"


def test_a_trade_ends_with_a_reflection_and_the_other_side_adds_theirs_once():
    trade = active()
    trade.end("Learned a lot about joins", by=ADA)
    trade.reflect("Ada explains well", by=BOB)
    assert trade.status == "ended"
    assert trade.reflections == {str(ADA): "Learned a lot about joins", str(BOB): "Ada explains well"}
    with pytest.raises(AlreadyReflected):
        trade.reflect("again", by=BOB)


def test_ending_needs_a_reflection():
    with pytest.raises(InvalidValue) as error:
        active().end("", by=ADA)
    assert error.value.field == "reflection"


def test_outsiders_cannot_touch_a_trade_or_write_notes_on_it():
    trade = active()
    for command in (lambda: trade.pause(by=EVE), lambda: trade.add_note("x", by=EVE),
                    lambda: trade.log_session(ADA, "SQL", DAY, 30, by=EVE)):
        with pytest.raises(NotAllowed):
            command()


def test_parties_write_confidential_notes():
    trade = active()
    trade.add_note("Bob prefers mornings", by=ADA)
    assert trade.notes == 1


def test_a_logged_session_counts_only_once_the_other_party_confirms_it():
    trade = active()
    number = trade.log_session(ADA, "SQL joins", DAY, 45, by=ADA)
    assert trade.session(number)["status"] == "pending"
    with pytest.raises(NotAllowed):
        trade.confirm_session(number, by=ADA)
    trade.confirm_session(number, by=BOB)
    assert trade.session(number)["status"] == "confirmed"
    assert trade.session(number)["learner_id"] == str(BOB)


def test_a_disputed_session_cannot_then_be_confirmed():
    trade = active()
    number = trade.log_session(BOB, "Python", DAY, 60, by=BOB)
    trade.dispute_session(number, "it was 30 minutes", by=ADA)
    with pytest.raises(SessionClosed):
        trade.confirm_session(number, by=ADA)


def test_a_correction_is_a_new_session_that_supersedes_the_old_one():
    # given a disputed session
    trade = active()
    first = trade.log_session(BOB, "Python", DAY, 60, by=BOB)
    trade.dispute_session(first, "it was 30 minutes", by=ADA)
    # when it is corrected
    second = trade.correct_session(first, BOB, "Python", DAY, 30, by=BOB)
    # then the old one is superseded (not edited) and the new one awaits confirmation
    assert trade.session(first)["minutes"] == 60
    assert trade.session(first)["status"] == "superseded"
    assert trade.session(second)["status"] == "pending"
    with pytest.raises(SessionClosed):
        trade.correct_session(first, BOB, "Python", DAY, 20, by=BOB)


def test_sessions_are_logged_only_on_active_trades():
    trade = proposed()
    with pytest.raises(TradeNotOpen):
        trade.log_session(ADA, "SQL", DAY, 30, by=ADA)


@pytest.mark.parametrize("teacher, topic, on, minutes, field", [
    (EVE, "SQL", DAY, 30, "teacher"), (ADA, "", DAY, 30, "topic"), (ADA, "SQL", "yesterday", 30, "on"),
    (ADA, "SQL", DAY, 0, "minutes"), (ADA, "SQL", DAY, 601, "minutes"), (ADA, "SQL", DAY, True, "minutes"),
])
def test_a_bad_session_is_refused_naming_the_field(teacher, topic, on, minutes, field):
    trade = active()
    with pytest.raises(InvalidValue) as error:
        trade.log_session(teacher, topic, on, minutes, by=ADA)
    assert error.value.field == field


def test_a_trading_profile_has_a_deterministic_id_and_defaults():
    profile = TradingProfile(peer_id=ADA, by=ADA)
    assert profile.id == trading_profile_id(ADA)
    assert (profile.opted_out, profile.max_active_trades) == (False, 3)


def test_a_trading_profile_states_positions_opt_out_and_limit():
    profile = TradingProfile(peer_id=ADA, by=ADA)
    profile.state_positions("Analyst", "Team lead", by=ADA)
    profile.set_opted_out(True, by=ADA)
    profile.set_max_active_trades(1, by=ADA)
    assert (profile.desired_position, profile.opted_out, profile.max_active_trades) == ("Team lead", True, 1)
    with pytest.raises(InvalidValue):
        profile.set_max_active_trades(99, by=ADA)


def test_a_circle_forms_only_when_every_member_accepts():
    circle = TradeCircle.propose([ADA, BOB, EVE], ["SQL", "Python", "Rust"], by=ADA)
    circle.accept(by=ADA)
    circle.accept(by=BOB)
    assert circle.status == "proposed"
    circle.accept(by=EVE)
    assert circle.status == "active"


def test_one_member_declining_closes_the_circle():
    circle = TradeCircle.propose([ADA, BOB, EVE], ["SQL", "Python", "Rust"], by=ADA)
    circle.decline("", by=EVE)
    with pytest.raises(TradeNotOpen):
        circle.accept(by=BOB)


def test_a_circle_has_three_or_four_distinct_members_and_outsiders_cannot_answer():
    with pytest.raises(InvalidValue):
        TradeCircle.propose([ADA, BOB], ["SQL", "Python"], by=ADA)
    with pytest.raises(InvalidValue):
        TradeCircle.propose([ADA, BOB, BOB], ["SQL", "Python", "Rust"], by=ADA)
    circle = TradeCircle.propose([ADA, BOB, EVE], ["SQL", "Python", "Rust"], by=ADA)
    with pytest.raises(NotAllowed):
        circle.accept(by=uuid4())
