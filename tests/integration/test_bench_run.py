"""`make bench` itself, shrunk: the whole SQLite run end to end (histories made with the real
commands, the rebuilds, gunicorn with its projection worker under the load generator, the growth
and as_of sections), so a change that breaks the benchmark fails the suite instead of the next
person's `make bench`. It asserts what the run did and wrote, never how fast it was."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- hand-written analysis below: kept when the bench rewrites this file -->"


def test_a_shrunk_bench_run_writes_every_section_and_keeps_the_analysis(tmp_path):
    markdown = tmp_path / "benchmarks.md"
    markdown.write_text(f"# old table\n\n{MARKER}\n## What the figures say\n\nKept by hand.\n")
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench" / "run.py"), "--scale", "0.05", "--big-events", "40000",
         "--no-1m", "--no-postgres", "--seconds", "1", "--repeats", "1", "--big-rebuilds", "1",
         "--commands", "50", "--lag-samples", "20", "--markdown", str(markdown), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    text = markdown.read_text()
    table, _, kept = text.partition(MARKER)
    assert kept == "\n## What the figures say\n\nKept by hand.\n"  # the analysis, byte for byte
    assert "# old table" not in table
    data = json.loads((out / "latest.json").read_text())
    assert json.loads(next(out.glob("results-*.json")).read_text()) == data
    rows = data["rows"]
    measures = {(row["section"], row["measure"].split(" (")[0], row["database"]) for row in rows}
    for expected in [
        ("Projections", "rebuild, ", "SQLite"),
        ("Commands", "sign-ups via services.talks.sign_up", "SQLite"),
        ("Projections", "live lag save -> visible", "SQLite"),
        ("HTTP", "GET /programme", "SQLite 10k"),
        ("HTTP", "GET /directory?q=python", "SQLite 10k"),
        ("HTTP", "GET /graph", "SQLite 10k"),
        ("HTTP", "GET /bench/bare", "SQLite 10k"),
        ("HTTP", "POST /bench/session-post/<talk_id>", "SQLite 10k"),
        ("Growth", "gunicorn worker RSS after the load", "SQLite 40k"),
        ("Growth", "GET /programme answered one at a time in-process", "SQLite 40k"),
        ("Growth", "GET /graph answered one at a time in-process", "SQLite 40k"),
    ]:
        assert any(section == expected[0] and measure.startswith(expected[1]) and db == expected[2]
                   for section, measure, db in measures), (expected, sorted(measures))
    # every row stands beside a ceiling or says it has none, and is judged or marked as not judged
    for row in rows:
        assert row["ceiling"] and row["target"] and row["met"] in (True, False, None), row
        assert "|" not in row["figure"] + row["ceiling"]  # (a table cell each)
    # the small history's rebuild is a comparison; the target is set for the larger one
    small, big = [row for row in rows if row["measure"].startswith("rebuild, ")][:2]  # (in the order run)
    assert small["met"] is None and small["target"].startswith("(comparison")
    assert big["met"] in (True, False) and big["target"].startswith(">= 100,000/s")

    # the HTTP loads answered without errors, and every sign-up POST was a real sign-up
    http = [row for row in rows if row["section"] == "HTTP"]
    assert http and all(run["errors"] == 0 and run["requests"] > 0 for row in http for run in row["raw"]["runs"])
    signup = next(row for row in http if row["measure"].startswith("POST /talks/") and "stopped" not in row["measure"])
    recorded, posts = map(lambda s: int(s.replace(",", "")),
                          re.search(r"([\d,]+) sign-ups recorded for ([\d,]+) POSTs", signup["measure"]).groups())
    assert posts > 0 and recorded >= posts
    # the table was written with one row per result, and the targets section
    assert table.count("\n| ") == len(rows) + 1  # (and the header)
    assert "## Targets not met" in table
