"""The address a request came from, for lockouts and the audit trail.

Behind a reverse proxy REMOTE_ADDR is the proxy's address, and each proxy appends the address
it received the request from to X-Forwarded-For. The header is read only when REMOTE_ADDR is
one of EVALBUILDER_TRUSTED_PROXY_NETWORKS, and then from the right: each entry is the address
that the hop to its right saw, so it is believed while the hop that wrote it is a trusted
proxy, for at most EVALBUILDER_TRUSTED_PROXIES entries. Anything further left was written by
the client and is never used, so a client that connects directly cannot pose as anyone.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Lockouts count an IPv6 client by its /64: one subscriber commonly holds a whole /64, and
# counting each address apart would give them 2**64 fresh tries.
IPV6_LOCKOUT_PREFIX = 64


@lru_cache(maxsize=8)
def proxy_networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    """EVALBUILDER_TRUSTED_PROXY_NETWORKS parsed; a clear error for an entry that is not a
    network (read when the settings load, so a bad value stops the server starting)."""
    parsed = []
    for network in networks:
        try:
            parsed.append(ipaddress.ip_network(network.strip()))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"EVALBUILDER_TRUSTED_PROXY_NETWORKS: {network!r} is not a network in CIDR "
                f"form such as 10.0.0.0/8 or fc00::/7 ({error})."
            ) from None
    return tuple(parsed)


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; they are IPv4 clients.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted_proxy(address: Address) -> bool:
    networks = proxy_networks(tuple(settings.EVALBUILDER_TRUSTED_PROXY_NETWORKS))
    return any(address in network for network in networks)


def _client(request: HttpRequest) -> Address | None:
    address = _parse(request.META.get("REMOTE_ADDR") or "")
    if address is None:
        return None
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in header.split(",") if hop.strip()]
    for _ in range(settings.EVALBUILDER_TRUSTED_PROXIES):
        if not _is_trusted_proxy(address) or not hops:
            break
        forwarded = _parse(hops.pop())
        if forwarded is None:
            # Not an address where a trusted proxy wrote one: the nearest hop is all we know.
            break
        address = forwarded
    return address


def client_address(request: HttpRequest) -> str | None:
    """The client's exact address, or None when REMOTE_ADDR is missing or not an address."""
    address = _client(request)
    return None if address is None else str(address)


def lockout_address(request: HttpRequest) -> str | None:
    """What django-axes counts failed sign-ins by (AXES_CLIENT_IP_CALLABLE): the client's IPv4
    address, or for an IPv6 client the first address of its /64 network, such as
    "2001:db8:1:2::" (an address, not "…/64": axes stores it in an address column, which
    PostgreSQL checks)."""
    address = _client(request)
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_LOCKOUT_PREFIX), strict=False)
        return str(network.network_address)
    return None if address is None else str(address)


def lockout_network(address: str) -> str:
    """How a lockout address reads for people: an IPv6 one stands for its /64 network."""
    return f"{address}/{IPV6_LOCKOUT_PREFIX}" if ":" in address else address
