"""The ``llm_samples`` marker's hook: run a test n times, pass on a pass rate.

Registered by the plugin once a collected test carries the marker; it imports
nothing heavy at the top (the statistics load when a marked test runs).
"""

from __future__ import annotations

import pytest

from .._outcome import annotate, sample_listeners

__all__ = ["SamplesHook"]

_sampling_key = pytest.StashKey[bool]()


class SamplesHook:
    """Runs an ``llm_samples`` test n times through the other implementations of the hook."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        marker = pyfuncitem.get_closest_marker("llm_samples")
        if marker is None or pyfuncitem.stash.get(_sampling_key, False):
            return None
        from ._samples import SamplesFailed, SamplesSpec, run_samples

        spec = SamplesSpec.from_marker(marker.args, dict(marker.kwargs))
        listeners = sample_listeners(pyfuncitem)

        def run_one(i: int) -> None:
            for listener in listeners:
                listener(i)
            pyfuncitem.stash[_sampling_key] = True
            try:
                pyfuncitem.ihook.pytest_pyfunc_call(pyfuncitem=pyfuncitem)
            finally:
                pyfuncitem.stash[_sampling_key] = False

        try:
            result = run_samples(spec, run_one, (AssertionError, pytest.fail.Exception))
        finally:
            for listener in listeners:
                listener(None)

        def report(rep: pytest.TestReport) -> None:
            if rep.when == "call":
                rep.llm_samples = result.as_dict()  # type: ignore[attr-defined]
                rep.sections.append(("llm samples", result.summary()))

        annotate(pyfuncitem, report)
        if not result.passed:
            first = result.first_failure
            detail = f"\nfirst failure (sample {first.index}): {first.message}" if first else ""
            raise SamplesFailed(result.summary() + detail)
        return True
