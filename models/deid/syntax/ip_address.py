"""IP_ADDRESS: IPv4 and IPv6 addresses, validated with the standard library."""

from __future__ import annotations

import ipaddress

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# Not part of a longer dotted number (versions like 1.2.3.4.5) or a longer digit run.
IPV4_REGEX = r"(?<![0-9.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![0-9]|\.[0-9])"
# A loose candidate (hex groups and colons, optional embedded IPv4 and zone); ipaddress decides.
# Neighbouring letters are excluded so "std::vector" or hashes are not candidates.
IPV6_REGEX = (
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:]|\.[0-9])"
)


def is_valid_ip(value: str) -> bool:
    """Whether ``value`` parses as an IPv4 or IPv6 address; IPv6 needs two or more non-empty groups."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.version == 6:
        # "::" or "::1" alone are too often something else (C++ scopes, log separators) to report.
        return sum(1 for group in value.split("%")[0].split(":") if group) >= 2
    return True
