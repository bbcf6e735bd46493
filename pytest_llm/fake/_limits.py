"""Quotas: the fake counts requests and tokens the way a provider does, on its clock.

``llm_fake.limits(rpm=2)`` gives the fake a quota. Every request it answers then
carries the provider's own rate-limit headers with what is left (OpenAI's
``x-ratelimit-*``, Anthropic's ``anthropic-ratelimit-*``; Gemini sends none), and once
a limit is spent the fake answers 429 in the provider's shape with the true wait
(``retry-after-ms``/``retry-after``, ``retry-after``, ``RetryInfo.retryDelay``) until
the window frees again.

Each limit is a token bucket, as OpenAI and Anthropic describe theirs: it holds up to
the limit and refills continuously at ``limit`` per minute, so under ``rpm=2`` a third
request at once waits 30 s (one request's worth of refill), not a whole minute. The
bucket reads the fake's clock, which is ``llm_clock`` while that fixture is active.
A refused request does not count.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ._script import _near

if TYPE_CHECKING:
    from .._clock import Clock
    from ._log import FakeRequest

__all__ = ["KINDS", "Admission", "Bucket", "Limits", "Quota"]

KINDS = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute (input and output)",
    "itpm": "input tokens per minute",
    "otpm": "output tokens per minute",
}
"""The limits a quota may set, and what each counts."""
_TOKENS = ("tpm", "itpm", "otpm")
_PROVIDERS = ("openai", "anthropic", "gemini")
_EPS = 1e-9
_MINUTE = 60.0


def _ms_up(seconds: float) -> float:
    """``seconds`` rounded up to the millisecond: a wait is never shorter than the need."""
    return math.ceil(round(seconds * 1000, 6)) / 1000


@dataclass(slots=True)
class Bucket:
    """One limit's count: up to ``capacity``, refilled at ``capacity`` per minute."""

    capacity: int
    level: float
    at: float
    """When ``level`` was last brought up to date (the clock's monotonic seconds)."""

    @property
    def rate(self) -> float:
        return self.capacity / _MINUTE

    def refill(self, now: float) -> None:
        if now > self.at:
            self.level = min(float(self.capacity), self.level + (now - self.at) * self.rate)
        self.at = max(self.at, now)

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0: now); ``inf``: never (over capacity)."""
        if amount > self.capacity:
            return math.inf
        short = amount - self.level
        return 0.0 if short <= _EPS * max(1, self.capacity) else short / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level + _EPS * max(1, self.capacity)))

    @property
    def full_in(self) -> float:
        """Seconds until the bucket is full again (OpenAI's and Anthropic's reset)."""
        return max(0.0, (self.capacity - self.level) / self.rate)


@dataclass
class Quota:
    """The limits of one ``llm_fake.limits(...)`` call, and their buckets.

    With ``model``, the limits count that model's requests only; without, every
    request to the provider (``provider``: only that one; none: each provider has
    its own count, as each has its own account).
    """

    limits: dict[str, int]
    model: str | None = None
    provider: str | None = None
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)

    def applies(self, request: FakeRequest) -> bool:
        if self.provider is not None and request.provider != self.provider:
            return False
        return self.model is None or request.model == self.model

    def bucket(self, kind: str, request: FakeRequest, now: float) -> Bucket:
        key = (kind, request.provider)
        found = self.buckets.get(key)
        if found is None:
            cap = self.limits[kind]
            found = self.buckets[key] = Bucket(cap, float(cap), now)
        found.refill(now)
        return found

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.limits.items()]
        if self.model is not None:
            parts.append(f"model={self.model!r}")
        if self.provider is not None:
            parts.append(f"provider={self.provider!r}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"<Quota {self.describe()}>"


@dataclass
class Admission:
    """The buckets a request was counted in, and, when refused, why and for how long."""

    held: list[tuple[str, Bucket]]
    """``(kind, bucket)`` of every limit that applies to the request."""
    wait: float = 0.0
    """Seconds until the request would be let through (0: it was)."""
    hit: tuple[str, Bucket, float] | None = None
    """The limit that refused it: ``(kind, bucket, amount asked)``."""

    @property
    def refused(self) -> bool:
        return self.hit is not None


class Limits:
    """Every quota of one fake."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.quotas: list[Quota] = []

    def add(
        self,
        where: str,
        options: Mapping[str, Any],
        model: str | None,
        provider: str | None,
    ) -> Quota:
        limits: dict[str, int] = {}
        for kind, value in options.items():
            if kind not in KINDS:
                raise ConfigError(
                    f"{where} got an unknown limit {kind!r}{_near(kind, KINDS)}.\n"
                    f"Fix: use {', '.join(f'{k} ({v})' for k, v in KINDS.items())}, "
                    "with model= and provider= to say what they count."
                )
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{where}: {kind}={value!r} is not a limit.\n"
                    f"Fix: use a whole number >= 1 of {KINDS[kind]}, e.g. {kind}=2."
                )
            limits[kind] = value
        if not limits:
            raise ConfigError(
                f"{where}: no limit given.\n"
                "Fix: pass at least one of rpm=, tpm=, itpm=, otpm=, e.g. llm_fake.limits(rpm=2)."
            )
        if model is not None and not isinstance(model, str):
            raise ConfigError(f"{where}: model={model!r} must be a str.\nFix: model='gpt-4o-mini'.")
        if provider is not None and provider not in _PROVIDERS:
            raise ConfigError(
                f"{where}: provider={provider!r} is not a provider the fake serves"
                f"{_near(str(provider), _PROVIDERS)}.\nFix: use one of: {', '.join(_PROVIDERS)}."
            )
        quota = Quota(limits, model=model, provider=provider)
        with self._lock:
            self.quotas.append(quota)
        return quota

    def clear(self) -> None:
        with self._lock:
            self.quotas.clear()

    def __bool__(self) -> bool:
        return bool(self.quotas)

    def admit(self, request: FakeRequest, prompt: int, now: float) -> Admission:
        """Count ``request`` (``prompt`` input tokens) in every bucket that applies, or
        refuse it with the longest wait among the limits it does not fit."""
        with self._lock:
            held: list[tuple[str, Bucket]] = []
            for quota in self.quotas:
                if quota.applies(request):
                    held += [(k, quota.bucket(k, request, now)) for k in quota.limits]
            worst: tuple[str, Bucket, float] | None = None
            wait = 0.0
            for kind, bucket in held:
                amount = _asked(kind, prompt)
                need = bucket.wait(amount)
                if need > 0 and (worst is None or need > wait):
                    worst, wait = (kind, bucket, amount), need
            if worst is not None:
                return Admission(held, wait if math.isinf(wait) else _ms_up(wait), worst)
            for kind, bucket in held:
                if kind != "otpm":
                    bucket.take(prompt if kind in ("tpm", "itpm") else 1)
            return Admission(held)

    def charge_output(self, admission: Admission, output: int) -> None:
        """The answer's output tokens count in the token limits that count them."""
        with self._lock:
            for kind, bucket in admission.held:
                if kind in ("tpm", "otpm"):
                    bucket.take(output)

    def __repr__(self) -> str:
        return f"<Limits {'; '.join(q.describe() for q in self.quotas) or 'none'}>"


def _asked(kind: str, prompt: int) -> float:
    if kind == "rpm":
        return 1
    if kind == "otpm":
        return 1  # output is not known yet: the limit only needs to have room left
    return prompt


def _tightest(held: list[tuple[str, Bucket]], kinds: tuple[str, ...]) -> Bucket | None:
    """Of the buckets of these kinds, the one with the least left (``None``: none held)."""
    found = [b for k, b in held if k in kinds]
    return min(found, key=lambda b: (b.remaining, -b.full_in)) if found else None


# -- what the provider says -----------------------------------------------------------------


def _rfc3339(clock: Clock, seconds: float) -> str:
    when = clock.now().astimezone(_dt.UTC) + _dt.timedelta(seconds=math.ceil(seconds))
    return when.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def headers(provider: str, held: list[tuple[str, Bucket]], clock: Clock) -> list[tuple[str, str]]:
    """The rate-limit headers of a reply: what is left of each limit, and when it is full.

    OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (reset in its
    duration format, ``30s``, ``1m0s``); Anthropic: ``anthropic-ratelimit-requests-*``,
    ``-tokens-*`` (the tightest token limit) and ``-input-tokens-*`` /
    ``-output-tokens-*`` (resets as RFC 3339 times); Gemini sends none.
    """
    from ..faults._base import openai_duration

    out: list[tuple[str, str]] = []
    kinds: tuple[str, ...]
    if provider == "openai":
        for name, kinds in (("requests", ("rpm",)), ("tokens", ("tpm",))):
            b = _tightest(held, kinds)
            if b is not None:
                out += [
                    (f"x-ratelimit-limit-{name}", str(b.capacity)),
                    (f"x-ratelimit-remaining-{name}", str(b.remaining)),
                    (f"x-ratelimit-reset-{name}", openai_duration(_ms_up(b.full_in))),
                ]
    elif provider == "anthropic":
        named: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("requests", ("rpm",)),
            ("tokens", _TOKENS),
            ("input-tokens", ("itpm",)),
            ("output-tokens", ("otpm",)),
        )
        for name, kinds in named:
            b = _tightest(held, kinds)
            if b is not None:
                out += [
                    (f"anthropic-ratelimit-{name}-limit", str(b.capacity)),
                    (f"anthropic-ratelimit-{name}-remaining", str(b.remaining)),
                    (f"anthropic-ratelimit-{name}-reset", _rfc3339(clock, b.full_in)),
                ]
    return out


_OPENAI_PER = {
    "rpm": ("requests per min (RPM)", "requests"),
    "tpm": ("tokens per min (TPM)", "tokens"),
    "itpm": ("tokens per min (TPM)", "tokens"),
    "otpm": ("tokens per min (TPM)", "tokens"),
}


def refusal(
    request: FakeRequest, admission: Admission, clock: Clock
) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    """The 429 of a refused request, as its provider sends it: ``(status, body, headers)``.

    The wait is the true one: the time until the limit it hit has room for it. A
    request larger than the limit itself can never pass: OpenAI says "Request too
    large" with no wait, Anthropic and Gemini their 429 with none either.
    """
    from ..faults._base import header_number, openai_duration, openai_rate_message
    from ..faults._provider_shapes import anthropic_rate_message, gemini_quota
    from ._native import anthropic_error, gemini_error

    assert admission.hit is not None
    kind, bucket, amount = admission.hit
    wait = admission.wait
    never = math.isinf(wait)
    model = request.model or "the model"
    limits = headers(request.provider, admission.held, clock)
    if request.provider == "openai":
        per, name = _OPENAI_PER[kind]
        if never:
            message = (
                f"Request too large for {model} in organization org-pytestllm on {per}: Limit "
                f"{bucket.capacity}, Requested {int(amount)}. The input or output tokens must be "
                "reduced in order to run successfully. Visit "
                "https://platform.openai.com/account/rate-limits to learn more."
            )
            retry: list[tuple[str, str]] = []
        else:
            used = bucket.capacity - bucket.remaining
            message = openai_rate_message(
                model, per, bucket.capacity, used, int(amount), openai_duration(wait)
            )
            retry = [
                ("retry-after", str(math.ceil(wait))),
                ("retry-after-ms", header_number(round(wait * 1000, 3))),
            ]
        body = {
            "error": {
                "message": message,
                "type": name,
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        return 429, body, retry + limits
    if request.provider == "anthropic":
        per = {
            "rpm": "requests per minute",
            "tpm": "tokens per minute",
            "itpm": "input tokens per minute",
            "otpm": "output tokens per minute",
        }[kind]
        retry = [] if never else [("retry-after", str(math.ceil(wait)))]
        doc = anthropic_error(
            "rate_limit_error",
            anthropic_rate_message(bucket.capacity, per),
            f"req_fake{request.number:04d}",
        )
        return 429, doc, retry + limits
    message, details = gemini_quota(
        model,
        "requests" if kind == "rpm" else "tokens",
        str(bucket.capacity),
        0.0 if never else wait,
    )
    if never:
        details = [d for d in details if not d["@type"].endswith("RetryInfo")]
        message = message.rsplit("\nPlease retry in", 1)[0]
    return 429, gemini_error(429, message, "RESOURCE_EXHAUSTED", details), []
