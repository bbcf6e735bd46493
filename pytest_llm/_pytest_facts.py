"""What pytest's plugin and fixture managers say about who provides a hook or a fixture.

One definition for the plugin's checks that nothing else could tell a shortcut from
pytest's own way: the cassette folder skipped at collection (:mod:`pytest_llm._collect`),
a marked test's cassette activated without the fixture machinery
(:func:`pytest_llm.plugin.pytest_collection_modifyitems`), and a test's
``llm_cassette_config`` taken as the plugin's own ``{}``
(:func:`pytest_llm.cassette._build.config_fixture_needed`).
PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

__all__ = ["hook_origin", "plugins_fixture"]

PLUGIN_MODULE = "pytest_llm.plugin"
"""The module that declares the plugin's fixtures."""


def hook_origin(impl: Any) -> str:
    """Where a hook implementation comes from: its plugin's module name, or for a
    plugin that is an instance, its class's module and name."""
    plugin = impl.plugin
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):
        return name
    cls = type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def plugins_fixture(item: pytest.Item, name: str) -> bool:
    """Whether the fixture ``name`` that ``item`` sees is the plugin's own (not a
    conftest's, module's or class's override). ``False`` where pytest's fixture manager
    cannot say: the caller then asks pytest, as it would without the shortcut."""
    try:
        manager: Any = item.config.pluginmanager.get_plugin("funcmanage")
        defs = manager.getfixturedefs(name, item)
        return len(defs) == 1 and defs[0].func.__module__ == PLUGIN_MODULE
    except Exception:  # another pytest
        return False
