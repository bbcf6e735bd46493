"""Adapters the suite ships: ``reference`` for pytest-llm's own ``ResilientClient``."""
