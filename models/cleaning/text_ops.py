"""The built-in text transforms behind the strip_control, strip_markup, unicode_nfkc and whitespace rules."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

# --- strip_control --------------------------------------------------------------------------------

# Controls that separate words or lines become a space or a newline rather than vanishing, so that
# "a\fb" does not turn into "ab". Everything else listed here is invisible and is removed.
_CONTROL_TO_SPACE = "\x0b\x0c"
_CONTROL_TO_NEWLINE = "\r\x85\u2028\u2029"
# Invisible format characters that break matching (a soft hyphen inside "b\u00adid" hides "bid").
# ZWJ/ZWNJ (U+200C/D) stay: emoji sequences and several scripts need them.
_FORMAT_CHARS = (
    "\u00ad\u180e\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_C0_C1 = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n"]

CONTROL_TABLE: dict[int, str | None] = {ord(c): None for c in (*_C0_C1, *_FORMAT_CHARS)}
CONTROL_TABLE.update({ord(c): " " for c in _CONTROL_TO_SPACE})
CONTROL_TABLE.update({ord(c): "\n" for c in _CONTROL_TO_NEWLINE})

_CONTROL_RE = re.compile("[" + re.escape("".join(chr(c) for c in CONTROL_TABLE)) + "]")


def strip_control(text: str) -> tuple[str, int]:
    """Remove control and invisible format characters except \\n and \\t; count characters changed."""
    if _CONTROL_RE.search(text) is None:
        return text, 0
    hits = len(_CONTROL_RE.findall(text))
    # CRLF is one line break, not two.
    return text.replace("\r\n", "\n").translate(CONTROL_TABLE), hits


# --- unicode_nfkc ---------------------------------------------------------------------------------

# Characters NFKC would rewrite in a way that is wrong for this data, so they are left as they are:
# - full-width Chinese punctuation (，！？：；（）～ …): an ASCII comma in Chinese prose is a defect;
# - superscripts, subscripts and vulgar fractions: "10⁹/L" must not become "109/L", nor "½" "1⁄2";
# - Roman numerals and circled numbers: "Ⅳ期" would become "IV期", which the medical pack reads as an
#   abbreviation, and "①" would become a bare "1".
_NFKC_KEEP = (
    "\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f\uff5e\u2025\u2026"
    "\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f\u2150-\u215f\u2189"
    "\u2160-\u2188\u2460-\u24ff\u3251-\u325f\u32b1-\u32bf"
)
_NFKC_RUN_RE = re.compile(f"[^{_NFKC_KEEP}]+")


@lru_cache(maxsize=4096)
def _changed_by_nfkc(char: str) -> bool:
    return unicodedata.normalize("NFKC", char) != char


def unicode_nfkc(text: str) -> tuple[str, int]:
    """NFKC-normalise text except the characters in _NFKC_KEEP; count characters changed."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, 0
    hits = 0

    def normalise(match: re.Match[str]) -> str:
        nonlocal hits
        run = match.group()
        normalised = unicodedata.normalize("NFKC", run)
        if normalised != run:
            # Composing a combining sequence changes no single character; count it at least once.
            hits += max(1, sum(1 for char in run if _changed_by_nfkc(char)))
        return normalised

    normalised_text = _NFKC_RUN_RE.sub(normalise, text)
    return (normalised_text, hits) if hits else (text, 0)


# --- strip_markup ---------------------------------------------------------------------------------

# Tags that only style a run of text disappear without a trace, so "<b>阿莫</b>西林" stays one word.
_INLINE_TAGS = frozenset(
    {
        *("a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i"),
        *("ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "time", "tt"),
        *("u", "var", "wbr"),
    }
)
# Tags that end a line or a block become a newline so neighbouring paragraphs do not run together.
_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"),
        *("figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav"),
        *("ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_ATTRS = r"""(?:[^<>"']|"[^"]*"|'[^']*')*"""
_MARKUP_RE = re.compile(
    r"<!--.*?-->"
    r"|<!\[CDATA\[(?P<cdata>.*?)\]\]>"
    rf"|<(?P<raw>script|style)\b{_ATTRS}>.*?</(?P=raw)\s*>"
    r"|<[!?][A-Za-z?][^<>]*>"
    rf"|<(?P<close>/)?(?P<name>[A-Za-z][A-Za-z0-9:_.-]*)(?:\s{_ATTRS})?/?>",
    re.DOTALL | re.IGNORECASE,
)
_ENTITY_RE = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{0,31});?")
# Each pass can only shrink the text, so this bounds the work on deliberately nested escapes.
_MAX_MARKUP_PASSES = 8


def _markup_replacement(match: re.Match[str]) -> str:
    cdata = match.group("cdata")
    if cdata is not None:
        return cdata
    name = match.group("name")
    if name is None:
        # Comments, doctypes and processing instructions are not text; script and style bodies are not
        # either but they may sit between two words.
        return " " if match.group("raw") else ""
    name = name.lower()
    if name == "sup":
        # "10<sup>9</sup>/L" must not become "109/L".
        return "" if match.group("close") else "^"
    if name in _INLINE_TAGS:
        return ""
    if name in _BLOCK_TAGS:
        return "\n"
    # Unknown (often XML) elements usually delimit fields: a space keeps their contents apart.
    return " "


def _decode_entities(text: str) -> tuple[str, int]:
    entities = 0

    def decode(match: re.Match[str]) -> str:
        nonlocal entities
        decoded = html.unescape(match.group())
        if decoded == match.group():
            return decoded
        entities += 1
        # An entity that decodes to a control or invisible format character (&shy;, &#8203;) is junk
        # whether or not the pack strips raw ones; dropping it here keeps the pack idempotent.
        return decoded.translate(CONTROL_TABLE)

    return _ENTITY_RE.sub(decode, text), entities


def _is_nfkc(text: str) -> bool:
    return unicode_nfkc(text)[1] == 0


def strip_markup(text: str) -> tuple[str, int]:
    """Strip HTML/XML markup and decode entities until neither is left; count tags and entities.

    Text that was NFKC-normalised (in unicode_nfkc's sense) stays so: removing "<b>" can put a
    combining mark next to a letter it composes with, and entities decode to any character at all.
    """
    hits = 0
    keep_normalised: bool | None = None
    for _ in range(_MAX_MARKUP_PASSES):
        if "<" not in text and "&" not in text:
            break
        stripped, tags = _MARKUP_RE.subn(_markup_replacement, text)
        # Decoding can reveal markup that was escaped ("&lt;b&gt;"); the next pass strips it.
        decoded, entities = _decode_entities(stripped)
        if tags + entities == 0:
            break
        if keep_normalised is None:
            keep_normalised = _is_nfkc(text)
        hits += tags + entities
        # Normalising inside the loop, not after it, lets the next pass see "&#xFF1C;b&#xFF1E;" as "<b>".
        text = unicode_nfkc(decoded)[0] if keep_normalised else decoded
    return text, hits


# --- collapse_whitespace --------------------------------------------------------------------------

# Only whitespace that needs changing matches: a lone space or newline between words is left alone,
# which keeps the common case free of Python callbacks.
WHITESPACE_RE = re.compile(r"\A\s+|\s+\Z|\s{2,}|[^\S \n]")


def whitespace_replacement(match: re.Match[str]) -> str:
    """Trim at the ends of the whole text; inside it, a run with a line break becomes one newline."""
    if match.start() == 0 or match.end() == len(match.string):
        return ""
    return "\n" if "\n" in match.group() else " "
