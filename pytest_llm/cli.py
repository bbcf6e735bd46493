"""The ``pytest-llm`` command: checks and figures for the cassettes a project commits.

``pytest-llm cassettes check`` is made for pre-commit hooks and CI: it reads every
cassette the way a replay would (so a corrupt, truncated or too-new file fails the
commit, not a test run an hour later) and scans it for credentials, printing one
``path:line: message`` line per problem with every secret masked.
``pytest-llm cassettes stats`` answers "what did we record, and how many tokens is
it?" per cassette, as a table or as JSON.

Both read the project's pytest configuration as the plugin does (the first of
``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg`` that configures pytest,
found like pytest finds it): ``llm_cassette_dir`` (or ``PYTEST_LLM_CASSETTE_DIR``)
is where they look by default, relative to the rootdir; ``llm_redact_headers``,
``llm_secret_patterns`` and ``llm_secret_allow`` add to ``check``'s flags.

Only the standard library is imported at start-up; YAML and the cassette code load
when a command runs, so ``--help`` and ``--version`` are instant.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TextIO

from . import __version__
from ._jsonpath import render, strings
from ._text import did_you_mean

if TYPE_CHECKING:
    from .cassette._format import CassetteFile
    from .cassette._redact import Redactor

__all__ = ["main"]

PROG = "pytest-llm"
DEFAULT_PATH = "cassettes"
_SUFFIXES = (".yaml", ".yml")

EXAMPLES = """\
examples:
  pytest-llm cassettes check                    check every cassette under ./cassettes
  pytest-llm cassettes check tests/cassettes a.yaml
  pytest-llm cassettes stats                    interactions, models and tokens per cassette
  pytest-llm cassettes stats --json > stats.json

exit status: 0 when clean, 1 when a problem was found, 2 on a usage error.

pre-commit (.pre-commit-config.yaml):
  - repo: local
    hooks:
      - id: pytest-llm-cassettes
        name: check LLM cassettes
        entry: pytest-llm cassettes check
        language: system
        files: ^cassettes/.*\\.ya?ml$
"""


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit status 2)."""


# -- argument parsing ---------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, plus a did-you-mean for a mistyped command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: tuple[str, ...] = ()
        self.nested: dict[str, tuple[str, ...]] = {}
        self.children: dict[str, _Parser] = {}

    def error(self, message: str) -> NoReturn:
        m = re.search(r"invalid choice: '([^']*)'", message)
        if m and self.commands:
            word = m.group(1)
            hint = ""
            hint = did_you_mean(word, self.commands, template="did you mean '{}'?", cutoff=0.5)
            for parent, subs in self.nested.items():
                if hint:
                    break
                hint = did_you_mean(word, subs, template=f"did you mean '{parent} {{}}'?")
            if hint:
                message = f"{message}; {hint}"
        super().error(message)


def _repeatable(parser: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """An option given once per value (``--allow A --allow B``)."""
    parser.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Check and summarise the LLM cassettes that pytest-llm replays.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    top = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", parser_class=_Parser
    )
    cas = top.add_parser(
        "cassettes",
        help="check or summarise cassette files",
        description="Check or summarise cassette files (pytest-llm's own and vcrpy's).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = cas.add_subparsers(title="actions", dest="action", metavar="ACTION", parser_class=_Parser)

    check = sub.add_parser(
        "check",
        help="validate cassettes and scan them for secrets (for pre-commit and CI)",
        description="Load every cassette as a replay would and scan it for credentials. "
        "Prints one 'path:line: message' line per problem, secrets masked.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_paths(check)
    _repeatable(
        check,
        "--redact-header",
        "NAME",
        "one more header that must hold REDACTED (like the ini option llm_redact_headers)",
    )
    _repeatable(
        check,
        "--secret-pattern",
        "REGEX",
        "one more regex of key-shaped strings (like llm_secret_patterns)",
    )
    _repeatable(
        check,
        "--allow",
        "REGEX",
        "a regex of strings that look like keys but are not (like llm_secret_allow)",
    )
    check.set_defaults(run=_run_check)

    stats = sub.add_parser(
        "stats",
        help="interactions, streams, models and token usage per cassette",
        description="A table per cassette: interactions, streamed interactions, models, "
        "prompt/completion/total tokens (from the recorded usage), and a total row.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_paths(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(ini=None)
    check.set_defaults(ini=None)
    stats.set_defaults(run=_run_stats)

    _add_convert(sub)  # pytest-llm cassettes convert PATH...

    parser.commands = ("cassettes",)
    parser.nested = {"cassettes": ("check", "stats", "convert")}
    parser.children = {"cassettes": cas}
    cas.commands = ("check", "stats", "convert")
    _add_conformance(top, parser)  # pytest-llm conformance report PATH.json
    return parser


# -- convert (vcrpy -> pytest-llm) ----------------------------------------------------


def _add_convert(sub: Any) -> None:
    conv = sub.add_parser(
        "convert",
        help="rewrite vcrpy / pytest-recording cassettes in pytest-llm's format (offline)",
        description="Rewrite vcrpy cassettes in pytest-llm's format at the same path, "
        "credentials redacted and the secret scan passed; the original is kept as "
        "NAME.yaml.vcrpy. pytest-llm cassettes of an older format version are written in the "
        "current layout (nothing they hold changes). No network, no key.",
    )
    _add_paths(conv)
    conv.add_argument("--dry-run", action="store_true", help="say what would be converted")
    conv.add_argument(
        "--diff", action="store_true", help="print the changes as a unified diff (writes nothing)"
    )
    conv.add_argument(
        "--no-backup", action="store_true", help="do not keep the original as NAME.yaml.vcrpy"
    )
    _repeatable(
        conv,
        "--redact-header",
        "NAME",
        "one more header to redact (like the ini option llm_redact_headers)",
    )
    conv.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace, out: TextIO) -> int:
    from .cassette import _convert

    redactor = _redactor(extra_headers=args.redact_header, patterns=[], allow=[])
    return _convert.run(
        collect(args.paths, "convert"),
        redactor,
        out,
        dry_run=args.dry_run,
        diff=args.diff,
        backup=not args.no_backup,
    )


def _add_conformance(top: Any, parser: _Parser) -> None:
    conf = top.add_parser(
        "conformance",
        help="render the conformance verdicts of a --llm-report file",
        description="Work with the verdicts of pytest --llm-conformance.",
    )
    sub = conf.add_subparsers(
        title="actions", dest="action", metavar="ACTION", parser_class=_Parser
    )
    report = sub.add_parser(
        "report",
        help="print the conformance section of a --llm-report JSON file as Markdown",
        description="Print the conformance section of a --llm-report JSON file as Markdown: "
        "one row per contract, a verdict column per adapter, and the evidence.",
    )
    report.add_argument("path", metavar="PATH.json", help="the file --llm-report wrote")
    report.set_defaults(run=_run_conformance_report)
    parser.commands = (*parser.commands, "conformance")
    parser.nested["conformance"] = ("report",)
    parser.children["conformance"] = conf
    conf.commands = ("report",)


def _run_conformance_report(args: argparse.Namespace, out: TextIO) -> int:
    from .conformance._render import markdown

    path = Path(args.path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON ({exc}); pass the file --llm-report wrote") from exc
    section = doc.get("conformance") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise UsageError(
            f"{path} has no conformance section.\nFix: run pytest "
            "--llm-conformance=MODULE:FACTORY --llm-report=PATH.json first."
        )
    if section.get("version") != 1:
        raise UsageError(
            f"{path}: conformance section version {section.get('version')!r} is not one "
            "this pytest-llm reads (1).\nFix: render it with the pytest-llm that wrote it."
        )
    out.write(markdown(section))
    return 0


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="cassette files or directories to walk for *.yaml/*.yml (default: the ini "
        f"option llm_cassette_dir, else {DEFAULT_PATH})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 clean, 1 problems, 2 usage error)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    run = getattr(args, "run", None)
    if run is None:
        which = parser.children.get(args.command, parser)
        which.print_usage(sys.stderr)
        print(f"{which.prog}: error: choose a command (see {which.prog} --help)", file=sys.stderr)
        return 2
    try:
        code: int = run(args, sys.stdout)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pytest-llm cassettes stats | head`
        return 1
    return code


# -- finding the files --------------------------------------------------------------


@dataclass(frozen=True)
class Ini:
    """The project's pytest configuration, as far as pytest-llm's options go."""

    rootdir: Path
    inipath: Path | None
    values: dict[str, Any]
    """Option name (``secret_allow``) -> its value, typed as pytest's ``getini`` would."""

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def cassette_dir(self) -> tuple[Path, str]:
        """Where cassettes live, and where that was said (env > ini > default)."""
        import contextlib
        import os

        from ._resolve import resolve
        from ._settings import OPTION

        found = resolve(
            "cassette_dir", ini=self.get("cassette_dir"), default=OPTION["cassette_dir"].default
        )
        path = Path(str(found.value))
        if not path.is_absolute():
            path = self.rootdir / path
        with contextlib.suppress(ValueError):  # shown as the user would type it
            path = Path(os.path.relpath(path))
        return path, found.source


def read_ini(invocation_dir: Path | None = None) -> Ini:
    """Find and read the pytest configuration file the way pytest does, without starting
    pytest (no plugins, no conftests): pytest-llm's options from ``_settings.OPTIONS``."""
    import contextlib
    import inspect

    from _pytest.config.findpaths import determine_setup

    from ._errors import ConfigError
    from ._settings import OPTIONS

    here = invocation_dir or Path.cwd()
    kwargs: dict[str, Any] = {"inifile": None, "args": [], "rootdir_cmd_arg": None}
    params = inspect.signature(determine_setup).parameters
    if "override_ini" in params:  # pytest >= 9
        kwargs["override_ini"] = None
    kwargs["invocation_dir"] = here
    try:
        rootdir, inipath, inicfg, *_ = determine_setup(**kwargs)
    except Exception as exc:  # pytest.UsageError and parse errors of a broken file
        raise UsageError(f"cannot read the pytest configuration: {exc}") from None
    values: dict[str, Any] = {}
    for o in OPTIONS:
        if o.ini is None or o.ini_key not in inicfg:
            continue
        raw = inicfg[o.ini_key]
        raw = getattr(raw, "value", raw)  # pytest >= 9 wraps each value
        with contextlib.suppress(ConfigError):  # not ours to report: the plugin does
            values[o.name] = _ini_value(raw, o.ini)
    return Ini(Path(rootdir), Path(inipath) if inipath else None, values)


def _ini_value(raw: Any, kind: str) -> Any:
    """As ``pytest.Config.getini`` types it."""
    if kind == "linelist":
        if isinstance(raw, list):
            return [str(v) for v in raw]
        return [t for t in (line.strip() for line in str(raw).split("\n")) if t]
    if kind == "bool":
        from ._values import parse_bool

        return parse_bool(raw, "ini option")
    return str(raw)


def _ini_of(args: argparse.Namespace) -> Ini:
    ini: Ini | None = getattr(args, "ini", None)
    if ini is None:
        ini = args.ini = read_ini()
    return ini


def collect(
    paths: Sequence[str], action: str = "check", default: tuple[Path, str] | None = None
) -> list[Path]:
    """The cassette files named by ``paths``: files as given, directories walked; none
    named: ``default`` (the cassette directory, and where it was configured)."""
    out: list[Path] = []
    seen: set[Path] = set()
    base, said = default or (Path(DEFAULT_PATH), "default")
    for raw in paths or [str(base)]:
        p = Path(raw)
        if p.is_dir():
            files = sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in _SUFFIXES
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and _looks_like_cassette(f)
            )
        elif p.is_file():
            files = [p]
        elif not paths:
            where = "" if said == "default" else f" (from the {said})"
            raise UsageError(
                f"no {raw}/ directory here ({Path.cwd()}){where}.\n"
                f"Fix: name the cassette files or directories: {PROG} cassettes {action} PATH..."
            )
        else:
            raise UsageError(f"{raw}: no such file or directory.")
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


_INTERACTIONS = re.compile(rb"^(?:interactions:|format: pytest-llm-cassette)", re.MULTILINE)


def _looks_like_cassette(path: Path) -> bool:
    """Whether a YAML file found by walking a directory is a cassette (pytest-llm's or
    vcrpy's: both have a top-level ``interactions`` key; ours also says its format). Other YAML kept beside them
    (protobuf dumps, fixtures) is not a broken cassette; a file named on the command
    line is always checked."""
    try:
        with path.open("rb") as fh:
            return _INTERACTIONS.search(fh.read()) is not None
    except OSError:
        return True  # unreadable: check says so


# -- check --------------------------------------------------------------------------


@dataclass
class Finding:
    """One problem in one file, printed as ``path:line: message``."""

    path: str
    line: int | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


SECRET_FIX = (
    "fix: replace each secret with REDACTED (or delete the line), then revoke any real key "
    "that was ever committed; if a hit is not a secret, pass --allow REGEX."
)


def _run_check(args: argparse.Namespace, out: TextIO) -> int:
    ini = _ini_of(args)
    files = collect(args.paths, "check", None if args.paths else ini.cassette_dir())
    redactor = _redactor(  # the ini's lists, then the flags: the plugin's rules, and more
        extra_headers=[*(ini.get("redact_headers") or ()), *args.redact_header],
        patterns=[*(ini.get("secret_patterns") or ()), *args.secret_pattern],
        allow=[*(ini.get("secret_allow") or ()), *args.allow],
    )
    findings: list[Finding] = []
    interactions = 0
    for path in files:
        n, found = check_file(path, redactor)
        interactions += n
        findings.extend(found)
    scrub = _Scrubber(redactor)
    for f in findings:
        print(scrub(str(f)), file=out)
    problems = _plural(len(findings), "problem") if findings else "no problems"
    print(
        f"checked {_plural(len(files), 'cassette')} ({_plural(interactions, 'interaction')}): {problems}",
        file=out,
    )
    for fix in dict.fromkeys(f.fix for f in findings if f.fix):
        print(scrub(fix), file=out)
    return 1 if findings else 0


def _redactor(*, extra_headers: list[str], patterns: list[str], allow: list[str]) -> Redactor:
    from ._errors import ConfigError
    from .cassette._redact import DEFAULT_SECRET_PATTERNS, SENSITIVE_HEADERS, Redactor

    named = dict(DEFAULT_SECRET_PATTERNS)
    named.update({f"secret pattern {p!r}": p for p in patterns})
    try:
        return Redactor(
            headers=SENSITIVE_HEADERS | {h.lower() for h in extra_headers},
            secret_patterns=named,
            allow=list(allow),
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def check_file(path: Path, redactor: Redactor) -> tuple[int, list[Finding]]:
    """Load one cassette and scan it: (interactions read, problems found)."""
    from ._errors import CassetteError
    from .cassette._format import load

    try:
        cassette = load(path, redact=False)
    except CassetteError as exc:
        return 0, [_format_finding(path, exc)]
    except OSError as exc:
        return 0, [Finding(str(path), None, f"cannot be read: {exc.strerror or exc}.", "")]
    lines = _LineMap(path, vcrpy=cassette.source_format != "pytest-llm-cassette")
    found = [
        Finding(str(path), lines.line(segs), message, SECRET_FIX)
        for segs, message in _secrets(cassette, redactor)
    ]
    found.sort(key=lambda f: f.line or 0)
    return len(cassette.interactions), found


def _format_finding(path: Path, exc: Exception) -> Finding:
    line = getattr(exc, "line", None)
    first, *rest = str(exc).splitlines() or [""]
    fix = next((r.strip() for r in rest if r.strip().lower().startswith("fix:")), "")
    if fix:
        fix = "fix: " + fix[4:].strip()
    return Finding(str(path), line, _without_where(first, path, line), fix)


def _without_where(first: str, path: Path, line: int | None) -> str:
    """``cassette P:7 is not valid YAML`` -> ``cassette is not valid YAML``: the path
    and line are already at the start of the printed line."""
    for where in (f"{path}:{line}", str(path)):
        for prefix in ("vcrpy cassette", "cassette"):
            head = f"{prefix} {where}"
            if first.startswith(head):
                tail = first[len(head) :]
                if tail.startswith(": "):
                    return ("vcrpy cassette: " if prefix != "cassette" else "") + tail[2:]
                return prefix + tail
    return first


Segs = tuple[str | int, ...]


def _secrets(cassette: CassetteFile, red: Redactor) -> Iterator[tuple[Segs, str]]:
    from .cassette._redact import REDACTED

    allow = [re.compile(a) for a in red.allow]  # --allow / llm_secret_allow: not secrets

    def real_values(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        return [
            str(v)
            for v in values
            if v not in (None, "", REDACTED) and not any(a.search(str(v)) for a in allow)
        ]

    if cassette.source_format == "pytest-llm-cassette":
        yield from _scan(("meta",), cassette.meta, red, skip=set())
    for i, it in enumerate(cassette.interactions):
        base: Segs = ("interactions", i)
        flagged: set[Segs] = set()
        for section in ("request", "response"):
            headers = it.data.get(section, {}).get("headers")
            if not isinstance(headers, dict):
                continue
            for name, value in headers.items():
                if str(name).lower() not in red.headers:
                    continue
                real = real_values(value)
                if real:
                    segs = (*base, section, "headers", str(name))
                    flagged.add(segs)
                    yield (
                        segs,
                        f"{_render(segs)} is a credential header with a real value "
                        f"({_mask(real[0])}), not {REDACTED}",
                    )
        url = it.data.get("request", {}).get("url")
        if isinstance(url, str):
            for segs, message, v in _query_secrets((*base, "request", "url"), url, red):
                if real_values(v):
                    yield segs, message
        yield from _scan(base, it.data, red, skip=flagged)


def _query_secrets(segs: Segs, url: str, red: Redactor) -> Iterator[tuple[Segs, str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    from .cassette._redact import REDACTED

    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    for (k, v), (_, redacted) in zip(pairs, red.query(pairs), strict=True):
        if redacted == REDACTED and v not in ("", REDACTED):
            yield (
                segs,
                f"{_render(segs)} has a credential query parameter {k!r} with a real value "
                f"({_mask(v)}), not {REDACTED}",
                v,
            )


def _scan(base: Segs, data: Any, red: Redactor, skip: set[Segs]) -> Iterator[tuple[Segs, str]]:
    for segs, text, is_key in strings(data, base):
        if segs in skip:
            continue
        hit = red.scan(text)
        if hit is not None:
            _, name, masked = hit
            what = f"{_render(segs)} (key)" if is_key else _render(segs)
            yield segs, f"{what} holds something shaped like {_article(name)} {name} ({masked})"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeio" else "a"


def _render(segs: Segs) -> str:
    return render(segs, root="")


def _mask(value: str) -> str:
    from .cassette._redact import _mask as mask

    return mask(value)


class _Scrubber:
    """Masks anything key-shaped in a line before it is printed: a last line of defence."""

    def __init__(self, red: Redactor) -> None:
        self._rx = [re.compile(p) for p in red.secret_patterns.values()]

    def __call__(self, text: str) -> str:
        for rx in self._rx:
            text = rx.sub(lambda m: _mask(m.group(0)), text)
        return text


def _has_key(node: Any, key: str) -> bool:
    import yaml

    return isinstance(node, yaml.MappingNode) and any(str(k.value) == key for k, _ in node.value)


class _LineMap:
    """Field path -> line in the file, from the YAML node tree (built only when needed).

    A vcrpy cassette is converted on load, so its fields are looked up by their vcrpy
    names (``uri``, ``body``); a path that goes deeper than the file (JSON inside a
    body string) gets the line of the deepest part found.
    """

    _VCRPY: ClassVar[dict[str, str]] = {
        "url": "uri",
        "json": "body",
        "text": "body",
        "base64": "body",
        "events": "body",
    }

    def __init__(self, path: Path, *, vcrpy: bool) -> None:
        self.path = path
        self.vcrpy = vcrpy
        self._root: Any = None

    def _tree(self) -> Any:
        if self._root is None:
            import yaml

            from .cassette._format import _Loader

            self._root = yaml.compose(self.path.read_text(encoding="utf-8"), Loader=_Loader)
        return self._root

    def line(self, segs: Segs) -> int | None:
        import yaml

        node = self._tree()
        best: int | None = None
        for depth, seg in enumerate(segs):
            if self.vcrpy and depth == 3 and isinstance(seg, str):
                if seg == "json" and _has_key(node, "parsed_body"):
                    seg = "parsed_body"  # a JSON body kept as YAML (vcr.register_serializer)
                else:
                    seg = self._VCRPY.get(seg, seg)
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(seg, str):
                for k, v in node.value:
                    if str(k.value).lower() == seg.lower():
                        child = v
                        best = k.start_mark.line + 1
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(seg, int)
                and seg < len(node.value)
            ):
                child = node.value[seg]
                best = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return best


# -- stats --------------------------------------------------------------------------


@dataclass
class Stats:
    """The figures of one cassette (or the total of several)."""

    path: str
    format: str = ""
    interactions: int = 0
    streamed: int = 0
    models: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, other: Stats) -> None:
        self.interactions += other.interactions
        self.streamed += other.streamed
        self.models = sorted({*self.models, *other.models})
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "interactions": self.interactions,
            "streamed": self.streamed,
            "models": self.models,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def stats_of(cassette: CassetteFile, path: str) -> Stats:
    """Counts and token usage; usage comes from each interaction's ``meta.usage``
    (recorded by pytest-llm) or, for a vcrpy cassette, from the response itself."""
    st = Stats(path, cassette.source_format)
    models: set[str] = set()
    for it in cassette.interactions:
        st.interactions += 1
        resp = it.data.get("response", {})
        if "events" in resp:
            st.streamed += 1
        meta = it.data.get("meta") if isinstance(it.data.get("meta"), dict) else {}
        assert isinstance(meta, dict)
        model, usage = meta.get("model"), meta.get("usage")
        if model is None or usage is None:
            found_model, found_usage = _from_response(it)
            model = model or found_model
            usage = usage or found_usage
        if model is None:
            req = it.request_json()
            if isinstance(req, dict):
                model = req.get("model")
        if model:
            models.add(str(model))
        p, c, t = _tokens(usage)
        st.prompt_tokens += p
        st.completion_tokens += c
        st.total_tokens += t
    st.models = sorted(models)
    return st


def _from_response(it: Any) -> tuple[Any, Any]:
    from .cassette._session import _usage_of

    try:
        return _usage_of(it.reply())
    except (KeyError, TypeError, ValueError):
        return None, None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _tokens(usage: Any) -> tuple[int, int, int]:
    """(prompt, completion, total) from chat (prompt/completion_tokens) or Responses
    API (input/output_tokens) usage."""
    if not isinstance(usage, dict):
        return 0, 0, 0
    p = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    c = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    t = _int(usage.get("total_tokens")) or p + c
    return p, c, t


_COLUMNS = (
    ("cassette", "<"),
    ("interactions", ">"),
    ("streamed", ">"),
    ("models", "<"),
    ("prompt_tokens", ">"),
    ("completion_tokens", ">"),
    ("total_tokens", ">"),
)


def _row(st: Stats) -> list[str]:
    return [
        st.path,
        str(st.interactions),
        str(st.streamed),
        ", ".join(st.models) or "-",
        str(st.prompt_tokens),
        str(st.completion_tokens),
        str(st.total_tokens),
    ]


def format_table(rows: list[Stats], total: Stats) -> list[str]:
    """Plain-text columns, numbers right-aligned, a total row under a rule."""
    body = [_row(r) for r in rows]
    foot = _row(total)
    head = [name for name, _ in _COLUMNS]
    widths = [max(len(r[i]) for r in [head, *body, foot]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        parts = [
            f"{c:{align}{w}}" for c, (_, align), w in zip(cells, _COLUMNS, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [fmt(head), rule, *(fmt(r) for r in body), rule, fmt(foot)]


def _run_stats(args: argparse.Namespace, out: TextIO) -> int:
    from ._errors import CassetteError
    from .cassette._format import load

    files = collect(args.paths, "stats", None if args.paths else _ini_of(args).cassette_dir())
    rows: list[Stats] = []
    problems: list[Finding] = []
    for path in files:
        try:
            rows.append(stats_of(load(path), str(path)))
        except CassetteError as exc:
            problems.append(_format_finding(path, exc))
    total = Stats(f"total ({_plural(len(rows), 'cassette')})", "")
    for r in rows:
        total.add(r)
    if args.json:
        doc = {
            "cassettes": [r.as_dict() for r in rows],
            "total": {k: v for k, v in total.as_dict().items() if k not in ("path", "format")}
            | {"cassettes": len(rows)},
            "problems": [{"path": p.path, "line": p.line, "message": p.message} for p in problems],
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        for line in format_table(rows, total):
            print(line, file=out)
    for p in problems:
        print(f"{p} (not counted)", file=sys.stderr)
    return 1 if problems else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
