"""LOCATION detections told apart: public place names (PLACE), street-level addresses (ADDRESS), and the rest.

"Ships from France" or "the Paris warehouse" says nothing about a person, and replacing the place mangles answers;
"12 Baker Street, Flat 3" or "平山林街8号3栋" says where someone lives. NER labels all of them LOCATION, and the
small English model also labels many people's names as places ("Tami Conway" → GPE). So a LOCATION span is:

- ADDRESS when it holds a number or a street-level word (road, room, building, 路, 号, 栋…), with the house
  number or the road and number NER left beside it, decided before the span is trimmed (trimming takes a number
  off its edge);
- PLACE when it is, whole, a name in the gazetteer of syntax/places.py (countries, regions, provinces, big cities);
- LOCATION otherwise: an unknown place or a misread name, which is why it is not kept by default.

Each type has its own operator (SLUICE_DEID_OPERATORS); by default PLACE is kept, the others replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from models.deid.overlaps import Detection
from models.deid.syntax.places import HOUSE_NUMBER_BEFORE, ZH_STREET_TAIL, is_public_place, is_street_level

__all__ = ["ADDRESS", "LOCATION", "PLACE", "label_addresses", "label_places"]

LOCATION = "LOCATION"
ADDRESS = "ADDRESS"
PLACE = "PLACE"


def label_addresses(text: str, detections: Iterable[Detection]) -> list[Detection]:
    """``detections`` with every street-level LOCATION re-labelled ADDRESS; other detections unchanged.

    NER stops short of the parts that make an address: a LOCATION followed by a Chinese road and number
    (海淀区 + 学院路12号3栋) takes them in, and an English street name takes in the house number before it.
    """
    labelled: list[Detection] = []
    for detection in detections:
        if detection.entity_type == LOCATION:
            tail = ZH_STREET_TAIL.match(text, detection.end)
            if tail is not None:
                detection = replace(detection, end=tail.end())
            if is_street_level(text[detection.start : detection.end]):
                detection = replace(detection, entity_type=ADDRESS)
                number = HOUSE_NUMBER_BEFORE.search(text, 0, detection.start)
                if number is not None:
                    detection = replace(detection, start=number.start())
        labelled.append(detection)
    return labelled


def label_places(text: str, detections: Iterable[Detection]) -> list[Detection]:
    """``detections`` with every LOCATION that is a public place name re-labelled PLACE; others unchanged."""
    return [
        replace(detection, entity_type=PLACE)
        if detection.entity_type == LOCATION and is_public_place(text[detection.start : detection.end])
        else detection
        for detection in detections
    ]
