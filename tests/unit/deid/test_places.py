"""Place names vs street addresses: the gazetteer and street test, and the LOCATION → PLACE / ADDRESS labels."""

from __future__ import annotations

import pytest

from models.deid.overlaps import Detection
from models.deid.places import label_addresses, label_places
from models.deid.syntax.places import is_public_place, is_street_level


@pytest.mark.parametrize(
    "name", ["France", "Paris", "paris", "New York", "北京", "北京市", "广东省", "广东", "德国", "Shanghai"]
)
def test_public_places_are_known(name: str) -> None:
    assert is_public_place(name)


@pytest.mark.parametrize(
    "name",
    [
        "Michaelmouth",  # a made-up town
        "Tami Conway",  # a person the small English model called a place
        "Paris France",  # two places are not one name
        "Jordan",  # also a given name: left out of the gazetteer
        "熊凯来电",
        "",
    ],
)
def test_other_names_are_not_public_places(name: str) -> None:
    assert not is_public_place(name)


@pytest.mark.parametrize(
    "value",
    ["12 Baker Street", "Flat 3", "221B", "Suite 400", "平山林街", "3栋2单元", "海淀区学院路", "阳光小区", "人民广场"],
)
def test_street_level_places_are_addresses(value: str) -> None:
    assert is_street_level(value)


@pytest.mark.parametrize("value", ["France", "Paris", "北京", "海淀区", "Shanghai", "Lake Tahoe"])
def test_towns_regions_and_countries_are_not_street_level(value: str) -> None:
    assert not is_street_level(value)


def _location(text: str, value: str, entity_type: str = "LOCATION") -> Detection:
    start = text.index(value)
    return Detection(entity_type, start, start + len(value), 0.85, from_pattern=False)


def test_labels_split_locations_into_places_addresses_and_the_rest() -> None:
    text = "From France to 12 Baker Street, then Michaelmouth; Paris is an ORG here."
    detections = [
        _location(text, "France"),
        _location(text, "12 Baker Street"),
        _location(text, "Michaelmouth"),
        _location(text, "Paris", "ORGANIZATION"),
    ]
    labelled = label_places(text, label_addresses(text, detections))
    assert [(d.entity_type, text[d.start : d.end]) for d in labelled] == [
        ("PLACE", "France"),
        ("ADDRESS", "12 Baker Street"),
        ("LOCATION", "Michaelmouth"),
        ("ORGANIZATION", "Paris"),  # only LOCATION spans are relabelled
    ]


def test_an_address_takes_in_the_house_number_ner_left_out() -> None:
    text = "Ship to 12 Baker Street, London."
    (labelled,) = label_addresses(text, [_location(text, "Baker Street")])
    assert (labelled.entity_type, text[labelled.start : labelled.end]) == ("ADDRESS", "12 Baker Street")


def test_a_chinese_place_takes_in_the_road_and_number_after_it() -> None:
    text = "送货地址：海淀区学院路12号3栋2单元501室，联系人王伟。"
    (labelled,) = label_addresses(text, [_location(text, "海淀区")])
    assert (labelled.entity_type, text[labelled.start : labelled.end]) == ("ADDRESS", "海淀区学院路12号3栋2单元501室")


def test_a_place_followed_by_other_words_stays_a_place() -> None:
    text = "北京仓库已发货，上海路况良好"
    labelled = label_places(text, label_addresses(text, [_location(text, "北京"), _location(text, "上海")]))
    assert [(d.entity_type, text[d.start : d.end]) for d in labelled] == [("PLACE", "北京"), ("PLACE", "上海")]
