"""The verdict table: terminal lines and Markdown, from the report's section."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["VERDICTS", "markdown", "summary", "terminal_lines"]

VERDICTS = ("pass", "fail", "not applicable")
_WIDTH = 110


def summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = out.setdefault(r["adapter"], dict.fromkeys(VERDICTS, 0))
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return out


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def terminal_lines(section: Mapping[str, Any]) -> list[str]:
    header = ["#", "contract", "adapter", "verdict", "evidence"]
    rows = [
        [
            f"{r['contract']:02d}",
            _cut(r["title"], 48),
            r["adapter"],
            r["verdict"],
            _cut(r["evidence"], _WIDTH),
        ]
        for r in section["results"]
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    for adapter, counts in section["adapters"].items():
        lines.append(
            f"{adapter}: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['not applicable']} not applicable"
        )
    return lines


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(section: Mapping[str, Any]) -> str:
    """The conformance section of a ``--llm-report`` file as a Markdown document."""
    results = list(section.get("results", []))
    adapters = list(section.get("adapters", {}))
    by: dict[int, dict[str, Mapping[str, Any]]] = {}
    titles: dict[int, str] = {}
    for r in results:
        by.setdefault(r["contract"], {})[r["adapter"]] = r
        titles[r["contract"]] = r["title"]
    lines = ["# Conformance report", ""]
    for adapter, counts in section.get("adapters", {}).items():
        lines.append(
            f"- **{adapter}**: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['not applicable']} not applicable"
        )
    lines += ["", "| # | contract | " + " | ".join(adapters) + " | evidence |"]
    lines.append("| --- | --- | " + " | ".join("---" for _ in adapters) + " | --- |")
    for number in sorted(by):
        cells = by[number]
        verdicts = [cells[a]["verdict"] if a in cells else "" for a in adapters]
        evidence = [(a, cells[a]["evidence"]) for a in adapters if a in cells]
        distinct = {e for _, e in evidence}
        if len(distinct) <= 1:
            shown = _md(next(iter(distinct), ""))
        else:
            shown = "<br>".join(f"{a}: {_md(e)}" for a, e in evidence)
        lines.append(
            f"| {number} | {_md(titles[number])} | " + " | ".join(verdicts) + f" | {shown} |"
        )
    return "\n".join(lines) + "\n"
