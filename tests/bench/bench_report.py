"""The bench's table: every figure beside its ceiling (measured in the same run) and its target."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    section: str
    measure: str
    database: str
    figure: str
    ceiling: str
    target: str
    met: bool | None
    raw: dict = field(default_factory=dict)


def rate_text(s: dict, unit: str) -> str:
    """Median with the spread of the runs: ``12,345 events/s (11,900-12,800, 3 runs)``."""
    if len(s["runs"]) == 1:
        return f"{s['median']:,.0f} {unit} (1 run)"
    return f"{s['median']:,.0f} {unit} ({s['min']:,.0f}-{s['max']:,.0f}, {len(s['runs'])} runs)"


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.machine: dict = {}

    def note(self, text: str) -> None:
        self.notes.append(text)

    def plain(self, section, measure, database, figure, ceiling, target, met, raw=None) -> None:
        self.rows.append(Row(section, measure, database, figure, ceiling, target, met, raw or {}))

    def rate(self, section, measure, database, s: dict, unit: str, ceiling: dict, ceiling_label: str,
             target: str, met: bool | None) -> None:
        share = s["median"] / ceiling["median"] if ceiling["median"] else float("nan")
        self.plain(section, measure, database, rate_text(s, unit),
                   f"{ceiling_label}: {rate_text(ceiling, unit)}; figure is {share:.1%} of it",
                   target, met, raw={"figure": s, "ceiling": ceiling, "share": share})

    def http(self, section, measure, database, runs, bare: dict, target: str, met: bool | None,
             also: tuple[str, dict] | None = None) -> None:
        """``also``: a second ceiling (label, rate summary) shown beside the bare one."""
        rates = [x.rate for x in runs]
        s = {"median": statistics.median(rates), "min": min(rates), "max": max(rates), "runs": rates}
        p50 = statistics.median(x.p50_ms for x in runs)
        p99 = statistics.median(x.p99_ms for x in runs)
        errors = sum(x.errors for x in runs)
        figure = f"{rate_text(s, 'req/s')}; p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        if errors:
            figure += f"; {errors:,} of {sum(x.requests for x in runs):,} responses were errors"
        share = s["median"] / bare["median"] if bare["median"] else float("nan")
        ceiling = f"bare: {rate_text(bare, 'req/s')}; figure is {share:.1%} of it"
        raw = {"runs": [asdict(x) for x in runs], "share_of_bare": share}
        if also is not None:
            label, second = also
            raw[f"share_of_{label}"] = part = s["median"] / second["median"] if second["median"] else float("nan")
            ceiling += f". {label}: {rate_text(second, 'req/s')}; figure is {part:.1%} of it"
        self.plain(section, measure, database, figure, ceiling, target, met, raw=raw)

    def as_json(self, stamp: str, args: dict) -> dict:
        return {"stamp": stamp, "args": args, "machine": self.machine, "notes": self.notes,
                "rows": [asdict(r) for r in self.rows]}

    def markdown(self, stamp: str, command: str) -> str:
        lines = [
            "# Benchmarks",
            "",
            (f"`make bench BENCH_ARGS=\"{command}\"`" if command else "`make bench`") + f" at {stamp}. Every figure is the median of"
            " its runs (spread in brackets) and stands beside its ceiling, measured in the same run on the same"
            " database. Regenerate with `make bench` (`make bench BENCH_ARGS=--no-1m` leaves out the 1M-event history);"
            " raw numbers go to `instance/bench/results-*.json`.",
            "",
            "## Machine",
            "",
            *[f"- {key}: {value}" for key, value in self.machine.items()],
            "",
            "## Results",
            "",
            "| section | measure | database | figure | ceiling (same run) | target | met |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            met = "-" if r.met is None else ("met" if r.met else "**not met**")
            lines.append(f"| {r.section} | {r.measure} | {r.database} | {r.figure} | {r.ceiling} | {r.target} | {met} |")
        missed = [r for r in self.rows if r.met is False]
        lines += ["", "## Targets not met", ""]
        lines += [f"- {r.measure} ({r.database}): {r.figure}; target {r.target}" for r in missed] or ["- none"]
        lines += ["", "## How the histories were made", "", *[f"- {n}" for n in self.notes], ""]
        return "\n".join(lines)
