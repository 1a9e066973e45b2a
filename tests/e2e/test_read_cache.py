"""Pages cached by view position never show stale data."""

from support import my_scheduled_talk, next_weekday

from commonroom.platform.readcache import ReadCache


def test_the_calendar_shows_a_sign_up_made_after_it_was_cached(app, client, auth):
    # Given a scheduled talk whose calendar page has been rendered (and cached)
    day = next_weekday(7)
    services, _, talk_id = my_scheduled_talk(app, auth, "Cached talk", "caching", day)
    url = f"/programme?week={day.isoformat()}&weeks=1"
    assert "0/3 seats" in client.get(url).get_data(as_text=True)
    assert "0/3 seats" in client.get(url).get_data(as_text=True)
    # When someone signs up
    other = services.people.register("Bob", "bob@example.org", "Tax", "long enough").peer_id
    services.settle(services.talks.sign_up(talk_id, other))
    # Then the next request shows it
    assert "1/3 seats" in client.get(url).get_data(as_text=True)
    cache = app.extensions["programme_cache"]
    assert cache.hits >= 1 and cache.misses >= 2


def test_the_cache_forgets_the_least_recently_used_entries():
    cache = ReadCache(maxsize=2)
    for key in "abc":
        cache.get_or_compute(key, lambda k=key: k.upper())
    assert cache.get_or_compute("a", lambda: "recomputed") == "recomputed"
    assert cache.get_or_compute("c", lambda: "stale") == "C"
