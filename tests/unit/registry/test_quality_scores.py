"""Normalisation, exact match and ROUGE-L of the registry's quality check, with values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry.manifest import Manifest, write_manifest
from models.registry.quality import exact_match, normalise, quality_summary, rouge_l, rouge_tokens, score_answers
from models.registry.quality_set import QUALITY_SET, QUALITY_SET_KEY, QualityQuestion


def test_normalise_folds_case_width_punctuation_and_whitespace() -> None:
    assert normalise("  The   ORDER,\thas shipped! ") == "the order has shipped"
    # Full-width letters and digits become half-width; CJK punctuation goes.
    assert normalise("ＡＢＣ１２３") == "abc123"
    assert normalise("今天天气很好。") == "今天天气很好"
    assert normalise("“大”") == "大"


def test_exact_match_ignores_case_punctuation_width_and_spaces_between_cjk() -> None:
    assert exact_match("Paris.", "paris")
    assert exact_match("１２", "12")
    assert exact_match("今天 天气很好", "今天天气很好。")
    assert not exact_match("The capital is Paris", "Paris")
    assert not exact_match("北京市", "北京")


def test_rouge_tokens_split_english_into_words_and_cjk_into_characters() -> None:
    assert rouge_tokens("The order, shipped!") == ["the", "order", "shipped"]
    assert rouge_tokens("订单 CN-5531 已发出") == ["订", "单", "cn", "5531", "已", "发", "出"]


def test_rouge_l_english_known_values() -> None:
    # LCS("the capital of france is paris", "paris") = 1: P = 1/6, R = 1 -> F = 2/7.
    assert rouge_l("The capital of France is Paris.", "Paris") == pytest.approx(2 / 7)
    # LCS("the cat sat on the mat", "the cat on a mat") = the cat on mat = 4: P = 4/6, R = 4/5 -> F = 8/11.
    assert rouge_l("the cat sat on the mat", "the cat on a mat") == pytest.approx(8 / 11)
    assert rouge_l("Paris", "paris!") == 1.0
    assert rouge_l("London", "Paris") == 0.0


def test_rouge_l_chinese_counts_characters() -> None:
    # LCS("北京是中国的首都", "北京") = 2: P = 2/8, R = 1 -> F = 0.4.
    assert rouge_l("北京是中国的首都。", "北京") == pytest.approx(0.4)
    # Order matters: LCS("天今", "今天") = 1 -> P = R = 1/2.
    assert rouge_l("天今", "今天") == pytest.approx(0.5)


def test_rouge_l_of_empty_texts() -> None:
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "Paris") == 0.0
    assert rouge_l("...", "Paris") == 0.0


def test_score_answers_reports_overall_and_per_language_means() -> None:
    questions = [
        QualityQuestion("a", "en", "q", "Paris"),
        QualityQuestion("b", "en", "q", "Blue"),
        QualityQuestion("c", "zh", "q", "北京"),
    ]
    scores = score_answers(questions, ["Paris.", "Red", "北京是首都"], [q.reference for q in questions])
    assert scores["by_language"]["en"] == {"questions": 2, "exact_match": 0.5, "rouge_l": 0.5}
    # zh: LCS 2 of 5 answer characters: P = 0.4, R = 1 -> F = 0.8/1.4.
    assert scores["by_language"]["zh"] == {"questions": 1, "exact_match": 0.0, "rouge_l": round(0.8 / 1.4, 4)}
    assert scores["questions"] == 3
    assert scores["exact_match"] == round(1 / 3, 4)
    assert scores["rouge_l"] == round((1 + 0 + 0.8 / 1.4) / 3, 4)


def test_score_answers_refuses_lists_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 answers"):
        score_answers(QUALITY_SET[:3], ["a", "b"], ["a", "b", "c"])


def test_quality_set_is_bilingual_half_and_half_with_unique_ids() -> None:
    langs = [q.lang for q in QUALITY_SET]
    assert langs.count("en") == langs.count("zh") == len(QUALITY_SET) // 2
    assert 16 <= len(QUALITY_SET) <= 24
    assert len({q.id for q in QUALITY_SET}) == len(QUALITY_SET)
    assert all(q.reference.strip() for q in QUALITY_SET)
    assert len(QUALITY_SET_KEY) == 10


def test_reference_answers_score_perfectly_against_themselves() -> None:
    references = [q.reference for q in QUALITY_SET]
    scores = score_answers(QUALITY_SET, references, references)
    assert scores["exact_match"] == 1.0 and scores["rouge_l"] == 1.0


def test_quality_summary_shows_reference_float32_and_agreement_figures() -> None:
    quality = {
        "mean_token_agreement": 0.3464,
        "vs_references": {"exact_match": 0.25, "rouge_l": 0.4123, "by_language": {"en": {"rouge_l": 0.5}}},
        "vs_float32": {"exact_match": 0.1, "rouge_l": 0.6},
    }
    assert quality_summary(quality) == "ref EM 0.25 RL 0.41 | en RL 0.50 | f32 EM 0.10 RL 0.60 | token agreement 0.35"
    assert quality_summary({}) == "no quality figures"


def test_manifest_round_trip_keeps_the_quality_block_with_chinese_text(tmp_path: Path) -> None:
    questions = list(QUALITY_SET[:2]) + [q for q in QUALITY_SET if q.lang == "zh"][:2]
    answers = ["Paris.", "12", "北京", "七"]
    quality = {
        "mean_token_agreement": 0.35,
        "question_set": {"name": "bilingual-v1", "key": QUALITY_SET_KEY, "questions": 4, "max_new_tokens": 48},
        "vs_references": score_answers(questions, answers, [q.reference for q in questions]),
        "vs_float32": score_answers(questions, answers, answers),
        "answers": {q.id: a for q, a in zip(questions, answers, strict=True)},
    }
    (tmp_path / "model.bin").write_bytes(b"weights")
    data = {
        "name": "gen",
        "version": "v1",
        "kind": "generator",
        "quantization": "int8_float32",
        "source": {"kind": "test"},
        "created_at": "2026-01-01T00:00:00+00:00",
        "quality": quality,
    }
    write_manifest(tmp_path, data)
    loaded = Manifest.load(tmp_path)
    assert loaded.quality == quality
    assert loaded.quality["vs_references"]["by_language"]["zh"]["exact_match"] == 0.5
    assert loaded.quality["vs_float32"]["rouge_l"] == 1.0
    assert "北京" in (tmp_path / "manifest.json").read_text(encoding="utf-8")  # written as text, not \u escapes
    assert loaded.verify() == []
