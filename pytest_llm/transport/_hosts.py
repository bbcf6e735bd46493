"""The socket guard's check of a host: :func:`is_loopback`, and :func:`check`, called by
the patched socket (:mod:`._socket`) on every name lookup and connection it sees. Loaded
with the first of those, not at pytest start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._socket import _State

__all__ = ["check", "is_loopback"]


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})


def is_loopback(host: Any) -> bool:
    """Whether ``host`` names this machine (never guarded)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    import ipaddress  # on the first non-name host: not at pytest start-up

    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def check(state: _State, host: Any, port: Any) -> None:
    """The patched socket's check of a name lookup or connection to ``host``, by the
    users in ``state``: the session's guard, and the router while a handler is active."""
    if state.host_guard is not None:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
        state.host_guard(name, port)
    router = state.chain
    if router is None:
        return
    if router.active and router.network_allowed <= 0 and not is_loopback(host):
        where = f"{host}:{port}" if port is not None else str(host)
        from .._errors import NetworkBlocked

        raise NetworkBlocked(
            f"pytest-llm blocked a network connection to {where}: it did not go through an "
            "httpx or httpx2 transport (or the openai SDK's aiohttp backend), so pytest-llm can "
            "neither replay nor record it (for example requests, urllib or a bare aiohttp).\n"
            "Fix: use the SDK's default httpx client, or wrap your transport with "
            "pytest_llm.wrap_transport(...); to let it through anyway, pass --llm-allow-network."
        )
