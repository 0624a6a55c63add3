"""What a public place name and a street-level address look like: a gazetteer and street words, no NER.

The gazetteer (public_places.yaml) lists countries, regions, Chinese provinces and large cities in English and
Chinese; places that are also common given names or surnames (Jordan, Sydney, Washington) are left out of it.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import yaml

__all__ = ["HOUSE_NUMBER_BEFORE", "ZH_STREET_TAIL", "is_public_place", "is_street_level"]

_STREET_WORDS = (
    "street st road rd avenue ave lane ln boulevard blvd drive way court ct suite ste apt apartment flat floor fl "
    "room rm building bldg unit block box highway hwy parkway pkwy place pl square sq terrace crescent close "
    "alley estate house"
)
_STREET_EN = re.compile(r"\b(?:" + "|".join(_STREET_WORDS.split()) + r")\b\.?", re.IGNORECASE)
# Road, street, lane, number, room, building, floor, unit, compound, village: below the district level.
_STREET_ZH = re.compile(r"[路街道巷弄号號室栋幢楼樓座村层層]|小区|大厦|公寓|单元|花园|广场")
_DIGIT = re.compile(r"\d")
# What follows a Chinese place name to make it a street address: an optional road name, then a number (学院路12号,
# 12号3栋2单元501室). Matched right after a LOCATION span, so "海淀区" + "学院路12号3栋" is one address.
_ZH_NUMBER = r"[0-9０-９一二三四五六七八九十百零〇]+"
ZH_STREET_TAIL = re.compile(
    r"(?:[\u4e00-\u9fff]{1,8}?(?:大道|路|街|巷|弄|胡同|道))?"
    + _ZH_NUMBER
    + r"[号號](?:"
    + _ZH_NUMBER
    + r"[栋幢座楼樓层層室]|"
    + _ZH_NUMBER
    + r"单元)*"
)
# A house number right before an English street name ("12 Baker Street"): NER leaves it out as a cardinal.
HOUSE_NUMBER_BEFORE = re.compile(r"(?<![\w-])[0-9]{1,5}[A-Za-z]?,? \Z")
# Administrative suffixes written or left out at will: 北京市 and 北京, 广东省 and 广东 are one place.
_ZH_SUFFIX = re.compile(r"(?:省|市|自治区|特别行政区)\Z")


@functools.cache
def _public_places() -> frozenset[str]:
    text = resources.files("models.deid.syntax").joinpath("public_places.yaml").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = yaml.safe_load(text)
    return frozenset(_key(name) for names in sections.values() for name in names)


def _key(name: str) -> str:
    return _ZH_SUFFIX.sub("", " ".join(name.split()).casefold())


def is_public_place(value: str) -> bool:
    """Whether ``value`` is, whole, a country, region, Chinese province or large city in the gazetteer."""
    return bool(value.strip()) and _key(value) in _public_places()


def is_street_level(value: str) -> bool:
    """Whether a place name reads as (part of) a street address: a number, a street word, a building or room."""
    return bool(_DIGIT.search(value) or _STREET_EN.search(value) or _STREET_ZH.search(value))
