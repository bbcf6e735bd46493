"""``pytest-llm cassettes convert``: vcrpy cassettes rewritten in pytest-llm's format, offline.

A pytest-llm cassette of an older format version is written in the current layout
(:func:`~._format.relayout`: nothing it holds changes, so no copy is kept).

Each file is read the way a replay reads it (credentials redacted, noisy headers
dropped, compressed bodies decoded, streams split into events, ``parsed_body`` read),
checked by the secret scan, and written at the same path; the original is kept beside
it as ``NAME.yaml.vcrpy`` unless ``--no-backup`` is given. ``--dry-run`` writes nothing;
``--diff`` prints what would change. No network, no key.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .._errors import CassetteError, SecretFound

if TYPE_CHECKING:
    from ._redact import Redactor

__all__ = ["BACKUP_SUFFIX", "Converted", "convert_file", "run"]

BACKUP_SUFFIX = ".vcrpy"
"""Appended to a converted file's name for the original (``chat.yaml.vcrpy``)."""


@dataclass
class Converted:
    """What happened to one file: ``converted``, ``skipped`` or ``failed``, and why."""

    path: Path
    outcome: str
    interactions: int = 0
    detail: str = ""
    text: str = ""
    """The converted cassette (empty unless converted)."""
    upgrade: bool = False
    """A pytest-llm cassette of an older format version, written in the current layout
    (nothing it holds changes, so no copy of the original is kept)."""


def convert_file(path: Path, redactor: Redactor) -> Converted:
    """Read one file and build its pytest-llm form (nothing is written here)."""
    from ._format import FORMAT, CassetteFile, dump, load, relayout

    try:
        cassette = load(path, redactor=redactor)
    except CassetteError as exc:
        return Converted(path, "failed", detail=str(exc).splitlines()[0])
    if cassette.source_format == FORMAT:
        text = relayout(cassette)
        if text == path.read_text(encoding="utf-8"):
            return Converted(path, "skipped", detail="already a pytest-llm cassette")
        n = len(cassette.interactions)
        return Converted(path, "converted", n, detail="the current layout", text=text, upgrade=True)
    out = CassetteFile(path, {"converted_from": "vcrpy"}, cassette.interactions)
    try:
        redactor.check({"interactions": [i.data for i in out.interactions]}, path=str(path))
    except SecretFound as exc:
        return Converted(path, "failed", detail=str(exc).splitlines()[0])
    return Converted(path, "converted", len(out.interactions), text=dump(out))


def run(
    files: list[Path],
    redactor: Redactor,
    out: TextIO,
    *,
    dry_run: bool = False,
    diff: bool = False,
    backup: bool = True,
) -> int:
    """Convert ``files``; print one line per file and a total. 1 if any failed."""
    results = [convert_file(p, redactor) for p in files]
    for r in results:
        if r.outcome != "converted":
            print(f"{r.outcome} {r.path}: {r.detail}", file=out)
            continue
        n = f"{r.interactions} interaction{'' if r.interactions == 1 else 's'}"
        if diff:
            old = r.path.read_text(encoding="utf-8").splitlines(keepends=True)
            new = r.text.splitlines(keepends=True)
            was = "older layout" if r.upgrade else "vcrpy"
            out.writelines(
                difflib.unified_diff(old, new, f"{r.path} ({was})", f"{r.path} (pytest-llm)")
            )
        to = " to the current layout" if r.upgrade else ""
        if dry_run or diff:
            print(f"would convert {r.path}{to} ({n})", file=out)
            continue
        _write(r, backup and not r.upgrade)
        kept = f"; original kept as {r.path}{BACKUP_SUFFIX}" if backup and not r.upgrade else ""
        print(f"converted {r.path}{to} ({n}{kept})", file=out)
    done = [r for r in results if r.outcome == "converted"]
    failed = [r for r in results if r.outcome == "failed"]
    skipped = len(results) - len(done) - len(failed)
    verb = "would convert" if (dry_run or diff) else "converted"
    total = sum(r.interactions for r in done)
    parts = [
        f"{verb} {len(done)} cassette{'' if len(done) == 1 else 's'} "
        f"({total} interaction{'' if total == 1 else 's'})"
    ]
    if skipped:
        parts.append(f"skipped {skipped}")
    if failed:
        parts.append(f"failed {len(failed)}")
    print(", ".join(parts), file=out)
    if done and not (dry_run or diff):
        print(
            "next: pytest-llm cassettes check "
            + " ".join(str(r.path) for r in done[:3])
            + (" ..." if len(done) > 3 else ""),
            file=out,
        )
    return 1 if failed else 0


def _write(r: Converted, backup: bool) -> None:
    from ._format import write_atomic

    mode = r.path.stat().st_mode & 0o7777
    if backup:
        keep = r.path.with_name(r.path.name + BACKUP_SUFFIX)
        if not keep.exists():  # a second run must not replace the original by a conversion
            keep.write_bytes(r.path.read_bytes())
            os.chmod(keep, mode)
    write_atomic(r.path, r.text)
    os.chmod(r.path, mode)
