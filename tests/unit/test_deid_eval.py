"""The de-identification evaluation: labelled corpus spans are exact, and each figure counts what it says."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from agents.cli import main
from agents.cli.data import deid_eval
from agents.demo.deid_corpus import DeidCorpus, LabelledText, Planted
from agents.demo.deid_eval import HELD_OUT_SEEDS, score
from models.deid import DeidResult, Entity

SHAPES = {
    "DOCUMENT_NUMBER": re.compile(r"(?:SO|INV|PO|DN|RMA|GRN)-?(?:\d{8}|20\d\d-\d{6})"),
    "SKU": re.compile(r"SKU-\d{4,6}|[A-Z]{2}-\d{4}-(?:BLK|XL|A2|V3)"),
    "TRACE_ID": re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"),
    "CN_MOBILE": re.compile(r"(?:\+86 ?)?1\d{2}[ -]?\d{4}[ -]?\d{4}"),
    "CN_RESIDENT_ID": re.compile(r"\d{17}[\dX]"),
    "EMAIL_ADDRESS": re.compile(r"\S+@\S+\.\w+"),
}


def test_every_planted_span_holds_a_value_of_its_kind() -> None:
    samples = DeidCorpus(7).texts(200)
    kinds = {planted.kind for sample in samples for planted in sample.planted}
    assert set(SHAPES) <= kinds
    for sample in samples:
        for planted in sample.planted:
            value = sample.value(planted)
            assert value == value.strip() and value
            if planted.kind in SHAPES:
                assert SHAPES[planted.kind].fullmatch(value), (planted.kind, value)


def test_the_same_seed_gives_the_same_texts_and_another_seed_other_texts() -> None:
    assert DeidCorpus(3).texts(20) == DeidCorpus(3).texts(20)
    assert DeidCorpus(3).texts(20) != DeidCorpus(4).texts(20)


def test_mixed_texts_are_labelled_mixed() -> None:
    samples = DeidCorpus(11).texts(300)
    assert {sample.language for sample in samples} == {"en", "zh", "mixed"}
    for sample in samples:
        has_han = re.search(r"[\u4e00-\u9fff]", sample.text) is not None
        if sample.language == "en":
            assert not has_han
        if sample.language == "zh":
            names = [sample.value(p) for p in sample.planted if p.kind == "PERSON"]
            assert all(re.fullmatch(r"[\u4e00-\u9fff]+", name) for name in names)


def _sample() -> LabelledText:
    text = "客户Evelyn Nguyen下单SO-46342748，电话13812345678，发货地Paris。"
    spans = {"PERSON": "Evelyn Nguyen", "DOCUMENT_NUMBER": "SO-46342748", "CN_MOBILE": "13812345678", "PLACE": "Paris"}
    planted = tuple(Planted(kind, text.index(value), text.index(value) + len(value)) for kind, value in spans.items())
    return LabelledText(text, "mixed", planted)


def test_score_counts_a_kept_identifier_a_found_name_and_no_leak() -> None:
    sample = _sample()
    name = sample.text.index("Evelyn")
    phone = sample.text.index("138")
    result = DeidResult(
        text="客户<PERSON_1>下单SO-46342748，电话<CN_MOBILE_1>，发货地Paris。",
        entities=(Entity("PERSON", name, name + 13, 0.85), Entity("CN_MOBILE", phone, phone + 11, 0.7)),
        subjects=(),
    )
    figures = score([sample], [result])
    assert figures["protected_keep_rate"] == 1.0
    assert figures["mixed_person_recall"] == 1.0
    assert figures["structured_leaks"] == 0
    assert figures["place_keep_rate"]["rate"] == 1.0
    assert figures["person_precision"]["rate"] == 1.0
    assert all(figures["aims_met"].values())


def test_score_counts_a_mangled_identifier_a_half_found_name_and_a_leak() -> None:
    sample = _sample()
    name = sample.text.index("Evelyn")
    order = sample.text.index("SO-")
    result = DeidResult(
        # The family name is left in clear: a name is found only when every character of it is covered.
        text="客户<PERSON_1> Nguyen下单<PERSON_2>，电话138 1234 5678，发货地<LOCATION>。",
        entities=(Entity("PERSON", name, name + 6, 0.85), Entity("PERSON", order, order + 11, 0.85)),
        subjects=(),
    )
    figures = score([sample], [result])
    assert figures["protected_keep_rate"] == 0.0
    assert figures["mixed_person_recall"] == 0.0
    assert figures["structured_leaks"] == 1
    assert figures["structured"]["leaked_by_type"] == {"CN_MOBILE": 1}
    assert figures["place_keep_rate"]["rate"] == 0.0
    assert figures["person_precision"] == {"rate": 0.5, "hits": 1, "total": 2}  # the order number is no name
    assert not any(figures["aims_met"].values())


def test_sluice_deid_eval_prints_the_figures_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    # Patterns only (no NER), a few texts: the command's wiring, not the models, is under test here.
    monkeypatch.setenv("SLUICE_NER_ENABLED", "false")
    result = CliRunner().invoke(main, ["deid", "eval", "--seeds", "5,6", "--texts", "20"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["seeds"] == [5, 6] and figures["texts"] == 40
    assert figures["engine"].endswith("+patterns-only")
    assert figures["protected_keep_rate"] == 1.0  # nothing but patterns: no NER to mangle identifiers
    assert figures["structured_leaks"] == 0
    assert figures["mixed_person_recall"] == 0.0  # and nothing to find names


def test_the_default_seeds_are_the_held_out_ones() -> None:
    option = next(p for p in deid_eval.params if p.name == "seeds")
    assert tuple(int(seed) for seed in str(option.default).split(",")) == HELD_OUT_SEEDS


@pytest.mark.parametrize("seeds", ["", "1,x"])
def test_bad_seeds_are_a_usage_error(seeds: str) -> None:
    result = CliRunner().invoke(main, ["deid", "eval", "--seeds", seeds, "--texts", "1"])
    assert result.exit_code == 2
