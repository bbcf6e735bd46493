"""Fake provider and loopback server tests.

Imported here so pytester's in-process runs keep them instead of importing them
afresh each run (hypothesis' pytest plugin imports it at every terminal summary:
about a second a run).
"""

from __future__ import annotations

import hypothesis  # noqa: F401

import pytest_llm.fake._provider
import pytest_llm.transport._server  # noqa: F401
