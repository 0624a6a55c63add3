"""The bundled base pack: control characters, markup and entities, safe NFKC, whitespace."""

from __future__ import annotations

import pytest

from models.cleaning import RuleEngine


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("a\x00b\x07c\x1bd\x7fe\x9ff", "abcdef"),
        ("zero\u200bwidth soft\u00adhyphen \ufeffbom \u200eltr", "zerowidth softhyphen bom ltr"),
        ("line1\r\nline2\rline3", "line1\nline2\nline3"),
        ("page\x0cbreak", "page break"),
        ("keep\ttab", "keep tab"),
        ("emoji 👨\u200d👩\u200d👧 stays", "emoji 👨\u200d👩\u200d👧 stays"),
    ],
)
def test_strip_control_removes_controls_but_keeps_line_structure(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("<p>第一段</p><p>第二段</p>", "第一段\n第二段"),
        ("<b>阿莫</b>西林", "阿莫西林"),
        ('<a href="x?a=1&b=2" title="a > b">link</a> text', "link text"),
        ("one<br/>two<br>three", "one\ntwo\nthree"),
        ("<td>cell1</td><td>cell2</td>", "cell1 cell2"),
        ("<drug>阿莫西林</drug><dose>0.5 g</dose>", "阿莫西林 0.5 g"),
        ("before<script>alert('<b>x</b>')</script>after", "before after"),
        ("a<style type='text/css'>p {color: red}</style>b", "a b"),
        ("<!DOCTYPE html><?xml version='1.0'?>x<!-- hidden -->y", "xy"),
        ("<![CDATA[5 < 6 & 7]]>", "5 < 6 & 7"),
        ("WBC 5.2×10<sup>9</sup>/L", "WBC 5.2×10^9/L"),
        ("AT&amp;T &lt;tag&gt; &quot;q&quot; &#20320;&#x597D; &copy;", 'AT&T "q" 你好 ©'),
        ("&amp;lt;b&amp;gt;bold", "bold"),
        ("a&nbsp;&nbsp;b", "a b"),
    ],
)
def test_strip_markup_removes_tags_and_decodes_entities(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


def test_escaped_markup_is_stripped_too_so_cleaning_twice_changes_nothing(bundled: RuleEngine) -> None:
    # Kept as text, "<b>" would be stripped by the next cleaning: decoding must run to a fixed point.
    assert bundled.clean("&lt;b&gt;粗体&lt;/b&gt; <![CDATA[<i>x</i>]]>").text == "粗体 x"


@pytest.mark.parametrize(
    "text",
    ["血压<140/90 mmHg", "a < b and c > d", "5<6", "R&D spend", "x &unknown; y", "<3 love"],
)
def test_strip_markup_leaves_comparison_signs_and_bare_ampersands_alone(bundled: RuleEngine, text: str) -> None:
    assert bundled.clean(text).text == text


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("ＡＢＣ１２３ｘｙｚ", "ABC123xyz"),
        ("全角\u3000空格", "全角 空格"),
        ("剂量５ｍｇ", "剂量5 mg"),
        ("㎎ ㎖ ㎍", "mg ml μg"),
        ("ﬁne ℃", "fine °C"),
        ("％＋－＝／＃", "%+-=/#"),
        ("＜ｂ＞粗体＜／ｂ＞", "粗体"),
    ],
)
def test_unicode_nfkc_folds_compatibility_forms(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


@pytest.mark.parametrize(
    "text",
    [
        "你好，世界！真的吗？是的：好；（括号）～",
        "等等…… 还有",
        "WBC 5.2×10⁹/L，体表面积 1.7 m²，H₂O",
        "½ 片",
        "Ⅳ期肺癌，Ⅲ级",
        "① 口服 ② 外用",
        "“引号”、『书名』、【方括号】、《书》。",
    ],
)
def test_unicode_nfkc_keeps_chinese_punctuation_and_meaningful_forms(bundled: RuleEngine, text: str) -> None:
    assert bundled.clean(text).text == text


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  leading and trailing  ", "leading and trailing"),
        ("many    spaces\t\there", "many spaces here"),
        ("para one \n\n\n  para two", "para one\npara two"),
        ("\n\n only \n", "only"),
        ("nbsp\u00a0\u00a0run", "nbsp run"),
        ("", ""),
        (" \t\n ", ""),
    ],
)
def test_collapse_whitespace_collapses_runs_and_trims(bundled: RuleEngine, raw: str, cleaned: str) -> None:
    assert bundled.clean(raw).text == cleaned


def test_clean_text_needs_no_base_rule(bundled: RuleEngine) -> None:
    result = bundled.clean("已经干净的文本，没有需要改的。")
    assert result.text == "已经干净的文本，没有需要改的。"
    assert result.rule_hits == {}


def test_base_hits_count_what_each_rule_changed(bundled: RuleEngine) -> None:
    result = bundled.clean("<b>ＡＢ</b>\x00  x")
    assert result.text == "AB x"
    assert result.rule_hits == {
        "base.strip_control": 1,
        "base.unicode_nfkc": 2,
        "base.strip_markup": 2,
        "base.collapse_whitespace": 1,
    }
