"""Repeated samples: pass rates, Wilson intervals, pass@k and early stopping.

A model's answer varies from call to call, so one run of a test proves little. The
``llm_samples`` marker runs a test ``n`` times and judges the pass rate against
``min_pass_rate``; it stops as soon as the verdict can no longer change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigError
from .._text import did_you_mean
from ._base import LLMAssertionError

__all__ = [
    "SampleOutcome",
    "SamplesFailed",
    "SamplesResult",
    "SamplesSpec",
    "pass_at_k",
    "run_samples",
    "wilson_interval",
]


class SamplesFailed(LLMAssertionError):
    """Too few of a test's samples passed: the pass rate is below ``min_pass_rate``."""


def wilson_interval(passes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (95 % by default); (0, 1) for n = 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = passes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate from ``c`` passes in ``n`` samples (Chen et al., 2021)."""
    if not 1 <= k <= n:
        raise ConfigError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}.")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass(frozen=True)
class SamplesSpec:
    """The ``llm_samples`` marker's keywords, checked."""

    n: int = 5
    min_pass_rate: float = 0.8
    pass_at: tuple[int, ...] = ()
    early_stop: bool = True

    @classmethod
    def from_marker(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SamplesSpec:
        allowed = ("n", "min_pass_rate", "pass_at", "early_stop")
        if len(args) > 1:
            raise ConfigError("llm_samples takes at most one positional argument (n).")
        kw = dict(kwargs)
        if args:
            kw["n"] = args[0]
        unknown = sorted(set(kw) - set(allowed))
        if unknown:
            hint = did_you_mean(unknown[0], allowed)
            raise ConfigError(
                f"llm_samples got an unknown keyword {unknown[0]!r}.{hint}\n"
                f"Fix: use {', '.join(allowed)}."
            )
        n = kw.get("n", cls.n)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(
                f"llm_samples(n={n!r}): n must be a whole number of samples, at least 1."
            )
        rate = kw.get("min_pass_rate", cls.min_pass_rate)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(
                f"llm_samples(min_pass_rate={rate!r}): a pass rate lies in [0, 1] (0.8 means 80 %)."
            )
        raw = kw.get("pass_at", ())
        ks = (raw,) if isinstance(raw, int) else tuple(raw)
        for k in ks:
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
                raise ConfigError(f"llm_samples(pass_at={raw!r}): each k must lie in 1..n (n={n}).")
        return cls(
            n=n, min_pass_rate=float(rate), pass_at=ks, early_stop=bool(kw.get("early_stop", True))
        )

    @property
    def needed(self) -> int:
        """Passes needed for the verdict to be a pass."""
        return math.ceil(self.min_pass_rate * self.n - 1e-9)


@dataclass
class SampleOutcome:
    index: int
    passed: bool
    message: str = ""


@dataclass
class SamplesResult:
    """What a test's samples gave: the numbers a report shows."""

    spec: SamplesSpec
    outcomes: list[SampleOutcome] = field(default_factory=list)

    @property
    def run(self) -> int:
        return len(self.outcomes)

    @property
    def passes(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def pass_rate(self) -> float:
        return self.passes / self.run if self.run else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passes, self.run)

    @property
    def passed(self) -> bool:
        return self.passes >= self.spec.needed

    @property
    def decided(self) -> bool:
        """Whether the remaining samples can no longer change the verdict."""
        left = self.spec.n - self.run
        return self.passes >= self.spec.needed or self.passes + left < self.spec.needed

    @property
    def first_failure(self) -> SampleOutcome | None:
        return next((o for o in self.outcomes if not o.passed), None)

    def pass_at(self) -> dict[str, float]:
        return {
            f"pass@{k}": round(pass_at_k(self.run, self.passes, k), 4)
            for k in self.spec.pass_at
            if k <= self.run
        }

    def summary(self) -> str:
        lo, hi = self.interval
        verdict = "passed" if self.passed else "failed"
        early = (
            f" (stopped early: {self.spec.n - self.run} not run)" if self.run < self.spec.n else ""
        )
        return (
            f"llm_samples: {self.passes} of {self.run} samples passed ({self.pass_rate:.0%}, "
            f"95% CI {lo:.0%}-{hi:.0%}); min_pass_rate {self.spec.min_pass_rate:g} needs "
            f"{self.spec.needed} of {self.spec.n}: {verdict}{early}"
        )

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        first = self.first_failure
        return {
            "samples": self.spec.n,
            "run": self.run,
            "passed": self.passes,
            "pass_rate": round(self.pass_rate, 4),
            "interval": [round(lo, 4), round(hi, 4)],
            "min_pass_rate": self.spec.min_pass_rate,
            "verdict": "pass" if self.passed else "fail",
            "first_failure": None
            if first is None
            else {"sample": first.index, "message": first.message},
            **self.pass_at(),
        }


def _first_failing_check(exc: BaseException) -> str:
    """An eval case names its failing checks on ``FAIL ...`` lines: show the first."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    failing = next((line for line in lines if line.startswith("FAIL ")), None)
    return failing or (lines[0] if lines and lines[0] else type(exc).__name__)


def run_samples(
    spec: SamplesSpec,
    run_one: Callable[[int], None],
    failures: Iterable[type[BaseException]] = (AssertionError,),
) -> SamplesResult:
    """Run ``run_one(i)`` for each sample; exceptions of ``failures`` count as a failed sample.

    Anything else (a cassette miss, a skip, an error in the test itself) propagates.
    """
    result = SamplesResult(spec)
    kinds = tuple(failures)
    for i in range(spec.n):
        try:
            run_one(i)
        except kinds as exc:
            result.outcomes.append(SampleOutcome(i, False, _first_failing_check(exc)))
        else:
            result.outcomes.append(SampleOutcome(i, True))
        if spec.early_stop and result.decided:
            break
    return result
