"""The request log line: written straight to the JSON handler when nothing else would see the
record, and the same line as ``logger.info`` with ``extra={"fields": ...}`` writes."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from commonroom.platform import logs


@pytest.fixture
def configured(monkeypatch):
    """``configure_logging`` as a served process runs it, into a string; the root logger and the
    installed handler as they were afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure_logging()
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logs._INSTALLED = None


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_line_is_the_one_the_logging_chain_writes(configured):
    log = logging.getLogger("commonroom.web")
    fields = {"request_id": "abc", "method": "POST", "path": "/talks/<b>/sign-up", "status": 303,
              "peer": None, "ms": 1.5, "odd": object}
    # when the line is written straight, then through logger.info
    logs.info_fields(log, "request", fields)
    log.info("request", extra={"fields": fields})
    straight, chained = lines(configured)
    # then both say the same, but for the moment they were written
    assert straight.pop("ts")[:10] == chained.pop("ts")[:10]
    assert straight == chained
    assert straight["logger"] == "commonroom.web" and straight["level"] == "info" and straight["odd"] == str(object)


def test_a_record_that_something_else_would_see_goes_through_logging(configured, caplog):
    log = logging.getLogger("commonroom.web")
    # given another handler on the root (pytest's caplog), or a filter on the logger
    with caplog.at_level(logging.INFO):
        logs.info_fields(log, "request", {"path": "/one"})
    # then that handler got the record, with its fields, and the JSON line was written too
    assert [r.fields["path"] for r in caplog.records] == ["/one"]
    assert [line["path"] for line in lines(configured)] == ["/one"]
    dropped = logging.Filter("nothing-by-this-name")
    log.addFilter(dropped)
    try:
        logs.info_fields(log, "request", {"path": "/two"})
    finally:
        log.removeFilter(dropped)
    assert [line["path"] for line in lines(configured)] == ["/one"]


def test_nothing_is_written_when_info_is_off(configured):
    logging.getLogger().setLevel(logging.WARNING)
    logs.info_fields(logging.getLogger("commonroom.web"), "request", {"path": "/three"})
    assert configured.getvalue() == ""
