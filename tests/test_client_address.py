"""The client's address behind proxies: X-Forwarded-For is believed only as far as trusted
proxies wrote it, and lockouts count an IPv6 client by its /64."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from evalbuilder.client_address import client_address, lockout_address

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"


def request_from(remote_addr: str | None, forwarded: str | None = None):
    meta = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", **meta)
    if remote_addr is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote_addr
    return request


@pytest.fixture
def one_proxy(settings):
    settings.EVALBUILDER_TRUSTED_PROXIES = 1


def test_without_proxies_the_header_is_ignored(settings):
    settings.EVALBUILDER_TRUSTED_PROXIES = 0
    assert client_address(request_from(PROXY, CLIENT)) == PROXY


def test_behind_one_proxy_the_address_it_received_the_request_from_counts(one_proxy):
    # The client wrote the first entry itself; the proxy appended the one it saw.
    assert client_address(request_from(PROXY, f"198.51.100.1, {CLIENT}")) == CLIENT


def test_a_client_connecting_directly_cannot_choose_its_address(one_proxy):
    assert client_address(request_from(CLIENT, "127.0.0.1")) == CLIENT
    assert client_address(request_from("2001:db8::7", "10.1.1.1")) == "2001:db8::7"


def test_only_the_configured_networks_are_proxies(one_proxy, settings):
    settings.EVALBUILDER_TRUSTED_PROXY_NETWORKS = ["192.0.2.0/24"]
    assert client_address(request_from("192.0.2.10", CLIENT)) == CLIENT
    assert client_address(request_from(PROXY, CLIENT)) == PROXY


def test_the_walk_stops_at_the_first_hop_that_is_not_a_proxy(settings):
    settings.EVALBUILDER_TRUSTED_PROXIES = 3
    # Two proxies: the nearer (10.0.0.5) saw the request come from the farther (10.0.0.9),
    # which saw the client. The entry further left is the client's own claim.
    assert client_address(request_from(PROXY, f"127.0.0.1, {CLIENT}, 10.0.0.9")) == CLIENT


def test_no_more_hops_are_believed_than_there_are_proxies(settings):
    settings.EVALBUILDER_TRUSTED_PROXIES = 2
    assert client_address(request_from(PROXY, f"{CLIENT}, 10.0.0.8, 10.0.0.9")) == "10.0.0.8"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("not-an-address", PROXY),
        (f"{CLIENT}, 999.1.1.1", PROXY),
        (f"{CLIENT},, ", CLIENT),
        ("", PROXY),
        (f"<script>, {CLIENT}", CLIENT),
    ],
)
def test_garbage_in_the_header_is_never_taken_for_an_address(one_proxy, forwarded, expected):
    assert client_address(request_from(PROXY, forwarded)) == expected


def test_no_address_at_all(one_proxy):
    assert client_address(request_from(None)) is None
    assert client_address(request_from("unix-socket")) is None
    assert lockout_address(request_from(None)) is None


def test_ipv6_proxies_and_clients(one_proxy):
    assert client_address(request_from("::1", "2001:DB8::1")) == "2001:db8::1"
    assert client_address(request_from("fd00::2", CLIENT)) == CLIENT
    # A dual-stack socket reports an IPv4 proxy as ::ffff:a.b.c.d: still that proxy.
    assert client_address(request_from(f"::ffff:{PROXY}", CLIENT)) == CLIENT


def test_lockouts_count_an_ipv6_client_by_its_64_network(one_proxy):
    assert lockout_address(request_from(PROXY, "2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::"
    assert lockout_address(request_from("2001:db8:1:2::9")) == "2001:db8:1:2::"
    assert lockout_address(request_from(PROXY, CLIENT)) == CLIENT


def test_a_network_that_is_not_one_is_named_in_the_error(one_proxy, settings):
    settings.EVALBUILDER_TRUSTED_PROXY_NETWORKS = ["10.0.0.0/8", "10.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match=r"'10\.0\.0/33' is not a network"):
        client_address(request_from(PROXY, CLIENT))
