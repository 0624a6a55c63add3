"""IP_ADDRESS: IPv4 with valid octets and IPv6 in its usual forms."""

from __future__ import annotations

import pytest

from models.deid.recognizers.ip_address import IpAddressRecognizer

from ._helpers import found

RECOGNIZER = IpAddressRecognizer()


@pytest.mark.parametrize("address", ["192.168.1.10", "10.0.0.1", "8.8.8.8", "255.255.255.255"])
def test_ipv4_is_found(address: str) -> None:
    assert found(RECOGNIZER, f"登录IP{address}，异常") == [address]


@pytest.mark.parametrize(
    "address",
    [
        "2001:db8::8a2e:370:7334",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        "::ffff:192.0.2.128",
        "fe80::1%eth0",
    ],
)
def test_ipv6_is_found(address: str) -> None:
    assert found(RECOGNIZER, f"from {address} at noon") == [address]


def test_ipv4_with_port_and_trailing_dot() -> None:
    assert found(RECOGNIZER, "server 10.1.2.3:8080.") == ["10.1.2.3"]


@pytest.mark.parametrize("text", ["256.1.1.1", "1.2.3", "10.0.0.999", "version 1.2.3.4.5", "12:30:45", "std::vector"])
def test_non_addresses_are_ignored(text: str) -> None:
    assert found(RECOGNIZER, text) == []


def test_loopback_shorthand_alone_is_ignored() -> None:
    assert found(RECOGNIZER, "bind ::1 and ::") == []
