"""Fault plans: which request meets which fault, in order, by target, or by seeded chance.

A :class:`FaultPlan` is the first handler of the chain (order 100). For each request
it walks its rules in the order they were added and fires the first one that
targets the request and has uses left; a request no rule takes goes on to the
cassette or the fake. So ``add(RateLimited(retry_after=7), times=2)`` is "fail twice,
then pass", and rules added one after the other make a sequence.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from .._exchange import Exchange, Next, Outcome
from .._handler import Handler
from ._errors import FaultError, FaultNotApplicable, UnusedFaults
from ._kinds import Context, Fault, Pass, make_fault

__all__ = ["Applied", "FaultPlan", "Rule"]

_UNSET: Any = object()
Target = str | re.Pattern[str] | None


def check_seed(seed: object, source: str) -> int:
    """``seed`` as an int, or an error that names where it came from."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaultError(
            f"{source}: the seed must be an int, got {seed!r} ({type(seed).__name__}).\n"
            "Fix: pass a whole number, e.g. seed=1234 (or PYTEST_LLM_SEED=1234)."
        )
    return seed


def _target_repr(target: Target) -> str:
    return repr(target.pattern) if isinstance(target, re.Pattern) else repr(target)


def _check_target(name: str, target: object) -> Target:
    if target is None or isinstance(target, str | re.Pattern):
        return target
    raise FaultError(
        f"{name}= is a string or a compiled regex, got {target!r}.\n"
        f"Fix: pass e.g. {name}={'/chat/completions' if name == 'path' else 'gpt-4o-mini'!r}."
    )


@dataclass(eq=False)
class Rule:
    """One line of a plan: a fault (or a seeded choice of faults) and whom it targets."""

    faults: tuple[Fault, ...]
    times: int | None = 1
    """How many requests it takes; ``None``: every one it targets."""
    path: Target = None
    """Request path this targets: an exact path, a path suffix (``/chat/completions``) or a regex."""
    model: Target = None
    """The request body's ``model``: exact, or a regex (full match)."""
    probability: float | None = None
    required: bool = True
    """Whether the plan's end check demands it was used (``times`` times, or once if unlimited)."""
    used: int = 0

    def targets(self, exchange: Exchange) -> bool:
        if self.path is not None:
            p = exchange.path
            if isinstance(self.path, re.Pattern):
                if not self.path.search(p):
                    return False
            elif p != self.path and not p.endswith("/" + self.path.lstrip("/")):
                return False
        if self.model is not None:
            model = _model_of(exchange)
            if model is None:
                return False
            if isinstance(self.model, re.Pattern):
                if not self.model.fullmatch(model):
                    return False
            elif model != self.model:
                return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    @property
    def unused(self) -> bool:
        if not self.required:
            return False
        return self.used < (self.times if self.times is not None else 1)

    def __repr__(self) -> str:
        what = repr(self.faults[0]) if len(self.faults) == 1 else f"one of {list(self.faults)!r}"
        bits = [what]
        if self.path is not None:
            bits.append(f"path={_target_repr(self.path)}")
        if self.model is not None:
            bits.append(f"model={_target_repr(self.model)}")
        if self.probability is not None:
            bits.append(f"probability={self.probability:g}")
        bits.append(f"times={self.times}")
        bits.append(f"used {self.used}")
        return f"<Rule {', '.join(bits)}>"


def _model_of(exchange: Exchange) -> str | None:
    """The body's ``model``, or the model in a Gemini path."""
    from .._providers import model_of

    return model_of(exchange)


@dataclass(frozen=True)
class Applied:
    """What the plan did with one request."""

    method: str
    url: str
    model: str | None
    fault: Fault | None
    """The fault it met, or ``None`` if it went on untouched."""

    def __str__(self) -> str:
        model = f" (model {self.model!r})" if self.model else ""
        did = (
            "passed on" if self.fault is None or isinstance(self.fault, Pass) else repr(self.fault)
        )
        from .._urls import safe_url

        return f"{self.method} {safe_url(self.url)}{model}: {did}"


class FaultPlan(Handler):
    """The faults of a test. Use the ``llm_faults`` fixture, or ``with FaultPlan(...) as plan:``.

    Random rules draw from one generator seeded with ``seed``, so the same seed and
    the same order of requests give the same faults.
    """

    order = 100
    miss_type = FaultNotApplicable
    unused_type = UnusedFaults

    def __init__(self, *faults: Fault | str | None, seed: int = 0) -> None:
        super().__init__()
        self.owner = "FaultPlan"
        """How the end-check message names the plan (``llm_faults`` for the fixture's)."""
        self._seed = check_seed(seed, f"FaultPlan(seed={seed!r})")
        self.rng = random.Random(self._seed)
        self.rules: list[Rule] = []
        self.log: list[Applied] = []
        """Every request the plan saw, in order, with the fault it met."""
        self._lock = threading.RLock()
        self._ids = 0
        self._ctx = Context(self._request_id)
        self.random_used = False
        if faults:
            self.sequence(*faults)

    # -- writing the plan ---------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._seed = check_seed(value, f"llm_faults.seed = {value!r}")
        self.rng.seed(self._seed)

    def add(
        self,
        fault: Fault | str,
        /,
        *,
        times: int | None = _UNSET,
        path: Target = None,
        model: Target = None,
        probability: float | None = None,
        required: bool | None = None,
        **params: Any,
    ) -> Rule:
        """Script a fault for the next ``times`` requests it targets (default once).

        ``fault`` is a fault (``RateLimited(retry_after=7)``) or a kind's name with its
        parameters (``"rate_limited", retry_after=7``). With ``probability`` it fires on
        each targeted request with that chance (seeded), unlimited unless ``times`` is
        given, and the end check does not require it.
        """
        built = self._fault(fault, params)
        return self._rule((built,), times, path, model, probability, required)

    def random(
        self,
        *faults: Fault | str,
        probability: float = 1.0,
        times: int | None = None,
        path: Target = None,
        model: Target = None,
    ) -> Rule:
        """On each targeted request, with ``probability``, one of ``faults`` picked by the seed."""
        if not faults:
            raise FaultError(
                "FaultPlan.random() needs at least one fault.\n"
                "Fix: pass e.g. random(RateLimited(), ServerError(503), probability=0.3)."
            )
        built = tuple(self._fault(f, {}) for f in faults)
        return self._rule(built, times, path, model, probability, False)

    def sequence(
        self,
        *faults: Fault | str | None,
        path: Target = None,
        model: Target = None,
        required: bool = True,
    ) -> list[Rule]:
        """One request each, in order; ``None`` (or ``Pass()``) lets that request through."""
        return [
            self._rule(
                (self._fault(f if f is not None else Pass(), {}),), 1, path, model, None, required
            )
            for f in faults
        ]

    def _fault(self, fault: Fault | str, params: dict[str, Any]) -> Fault:
        if isinstance(fault, str):
            return make_fault(fault, **params)
        if not isinstance(fault, Fault):
            names = ", ".join(sorted(_kind_names()))
            raise FaultError(
                f"{fault!r} is not a fault.\n"
                f"Fix: pass a fault such as RateLimited(retry_after=7), or a kind's name: {names}."
            )
        if params:
            raise FaultError(
                f"add({fault!r}, {', '.join(f'{k}={v!r}' for k, v in params.items())}): "
                "parameters go to the fault itself when it is already built.\n"
                f"Fix: pass {type(fault).__name__}(..., {next(iter(params))}=...), or the kind's "
                f"name: add({fault.kind!r}, ...)."
            )
        return fault

    def _rule(
        self,
        faults: tuple[Fault, ...],
        times: int | None,
        path: Target,
        model: Target,
        probability: float | None,
        required: bool | None,
    ) -> Rule:
        what = repr(faults[0])
        if probability is not None:
            ok = isinstance(probability, int | float) and not isinstance(probability, bool)
            if not ok or not 0 <= probability <= 1:
                raise FaultError(
                    f"{what}: probability is a chance between 0 and 1, got {probability!r}.\n"
                    "Fix: pass e.g. probability=0.3."
                )
            self.random_used = True
        if times is _UNSET:
            times = None if probability is not None else 1
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise FaultError(
                f"{what}: times is how many requests get the fault (1 or more, or None for "
                f"all of them), got {times!r}.\n"
                "Fix: pass e.g. times=2, or times=None."
            )
        rule = Rule(
            faults,
            times=times,
            path=_check_target("path", path),
            model=_check_target("model", model),
            probability=probability,
            required=(probability is None) if required is None else bool(required),
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    # -- the handler ----------------------------------------------------------------------

    def _request_id(self) -> str:
        with self._lock:
            self._ids += 1
            n = self._ids
        return "req_" + hashlib.sha256(f"pytest-llm:{self._seed}:{n}".encode()).hexdigest()[:32]

    def pick(self, exchange: Exchange) -> Fault | None:
        """The fault this request meets (and count it used), or ``None``."""
        with self._lock:
            for rule in self.rules:
                if rule.exhausted or not rule.targets(exchange):
                    continue
                if rule.probability is not None and self.rng.random() >= rule.probability:
                    continue
                rule.used += 1
                fault = rule.faults[0]
                if len(rule.faults) > 1:
                    fault = rule.faults[self.rng.randrange(len(rule.faults))]
                self.log.append(Applied(exchange.method, exchange.url, _model_of(exchange), fault))
                return fault
            self.log.append(Applied(exchange.method, exchange.url, _model_of(exchange), None))
            return None

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome:
        fault = self.pick(exchange)
        if fault is None:
            return nxt(exchange)
        try:
            return fault.apply(exchange, nxt, self._ctx)
        except FaultNotApplicable as exc:
            if self.random_used:
                exc.args = (f"{exc.args[0]}\n{self.seed_line()}",)
            self.misses.append(str(exc))
            raise

    # -- checking ------------------------------------------------------------------------

    def unused(self) -> list[Rule]:
        """Scripted rules that did not get all the requests they were written for."""
        return [r for r in self.rules if r.unused]

    @property
    def errors(self) -> list[str]:
        """Faults that could not apply (:attr:`misses`, under the plan's older name)."""
        return self.misses

    def explain_unused(self) -> str:
        """The end-check message, or ``""`` when every scripted fault was used."""
        rules = self.unused()
        if not rules:
            return ""
        n = len(rules)
        lines = [f"{self.owner}: {n} scripted fault{'s were' if n > 1 else ' was'} not used:"]
        for rule in rules:
            lines.append(f"  {rule.faults[0]!r}{_where(rule)}: used {rule.used} of {_times(rule)}")
        seen = len(self.log)
        lines.append(f"Requests the plan saw: {seen}" + (":" if seen else "."))
        lines.extend(f"  {i}. {a}" for i, a in enumerate(self.log, 1))
        lines.append(
            "Fix: make the test send the requests the plan expects (check path= and model=), "
            "lower times=, or pass required=False to add() for a fault that may not fire."
        )
        return "\n".join(lines)

    def seed_line(self) -> str:
        return (
            f"fault plan seed: {self._seed} (rerun with PYTEST_LLM_SEED={self._seed} for the "
            "same faults)"
        )

    def describe(self) -> str:
        """The seed and what each request met; printed when a test with faults fails."""
        lines = [self.seed_line() if self.random_used else "fault plan:"]
        if not self.log:
            lines.append("  no request reached the plan")
        lines.extend(f"  {i}. {a}" for i, a in enumerate(self.log, 1))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<FaultPlan seed={self._seed} rules={self.rules!r} requests={len(self.log)}>"


def _where(rule: Rule) -> str:
    bits = []
    if rule.path is not None:
        bits.append(f"path={_target_repr(rule.path)}")
    if rule.model is not None:
        bits.append(f"model={_target_repr(rule.model)}")
    return f" ({', '.join(bits)})" if bits else ""


def _times(rule: Rule) -> str:
    if rule.times is None:
        return "at least 1 time (times=None)"
    return f"{rule.times} time{'s' if rule.times > 1 else ''}"


def _kind_names() -> list[str]:
    from ._kinds import KINDS

    return list(KINDS)
