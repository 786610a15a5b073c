"""The results table: one row per figure, printed and written to bench/results/latest.md."""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    name: str
    value: str
    target: str
    reference: str = ""
    ratio: str = ""
    ok: bool | None = None  # None: not measured or no pass/fail
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.ok]


def missing(name: str, target: str, what: str) -> Figure:
    return Figure(name, f"n/a (not built yet: {what})", target)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = 0
    try:
        mem = int(next(x for x in Path("/proc/meminfo").read_text().splitlines()
                       if x.startswith("MemTotal")).split()[1]) // 1024 // 1024
    except (OSError, StopIteration):
        pass
    pg = ""
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True,
                            timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, {pg}")


def render(figures: list[Figure], context: list[str]) -> str:
    """A Markdown table (readable as plain text too)."""
    header = ["figure", "value", "target", "reference (same run)", "ratio", "verdict"]
    rows = [[f.name, f.value, f.target, f.reference, f.ratio, f.verdict] for f in figures]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [f"# Interlock benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", ""]
    out += [f"- {c}" for c in context] + [""]
    out += [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    notes = [f"- **{f.name}**: {f.note}" for f in figures if f.note]
    if notes:
        out += ["", "Notes:"] + notes
    return "\n".join(out) + "\n"


def write(text: str, smoke: bool = False) -> Path:
    """latest.md for a full run; a smoke run never overwrites it (latest-smoke.md)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("latest-smoke.md" if smoke else "latest.md")
    path.write_text(text)
    return path
