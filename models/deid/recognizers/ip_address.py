"""Recognizer for IPv4 and IPv6 addresses, validated with the standard library."""

from __future__ import annotations

from presidio_analyzer import Pattern

from models.deid.recognizers._declared import DeclaredPatternRecognizer
from models.deid.syntax.ip_address import IPV4_REGEX, IPV6_REGEX, is_valid_ip


class IpAddressRecognizer(DeclaredPatternRecognizer):
    """Finds IPv4 addresses (valid octets) and IPv6 addresses."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = (Pattern("ipv4", IPV4_REGEX, 0.6), Pattern("ipv6", IPV6_REGEX, 0.6))
    CONTEXT = ("ip", "ip地址", "地址", "address", "host", "server", "登录")
    PLAUSIBILITY = staticmethod(is_valid_ip)
