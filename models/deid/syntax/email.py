"""EMAIL_ADDRESS: addresses in mixed Chinese/English text, validated offline."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tldextract

# ASCII-only classes on purpose: Presidio's EmailRecognizer uses \w, which also matches Chinese, so in
# "邮箱zhang@x.com" it would swallow "邮箱" into the address and the pseudonym would change with context.
EMAIL_REGEX = (
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9](?![A-Za-z0-9\-])"
)


@functools.cache
def _suffix_extractor() -> tldextract.TLDExtract:
    import tldextract  # only e-mail validation needs it

    # No suffix-list URLs and no cache dir: the public suffix list snapshot bundled with tldextract is
    # used, so validation never touches the network or the disk.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def has_public_suffix(address: str) -> bool:
    """Whether the domain part of ``address`` ends in a known public suffix (.com, .com.cn, ...)."""
    domain = address.rpartition("@")[2]
    parts = _suffix_extractor()(domain)
    return bool(parts.suffix) and bool(parts.domain)
