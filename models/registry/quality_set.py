"""The fixed bilingual question set (with reference answers) every generator import is scored on.

Chosen so that a 135M instruct model can answer some of it: one-word facts, small sums, copying, one-word
translation and format following. Changing a question or the token budget changes QUALITY_SET_KEY, so scores of
two manifests are comparable exactly when their keys are equal (and cached float32 answers are rebuilt).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

QUALITY_SET_NAME = "bilingual-v1"
QUALITY_SET_MAX_TOKENS = 48


@dataclass(frozen=True)
class QualityQuestion:
    """One question, its language ("en" or "zh") and the short answer a correct model gives."""

    id: str
    lang: str
    question: str
    reference: str


QUALITY_SET: tuple[QualityQuestion, ...] = (
    QualityQuestion("en-capital", "en", "What is the capital of France? Answer with one word.", "Paris"),
    QualityQuestion("en-sum", "en", "What is 7 plus 5? Answer with the number only.", "12"),
    QualityQuestion("en-sky", "en", "What colour is the sky on a clear day? Answer with one word.", "Blue"),
    QualityQuestion("en-week", "en", "How many days are in a week? Answer with the number only.", "7"),
    QualityQuestion("en-copy", "en", "Repeat exactly: The order has shipped.", "The order has shipped."),
    QualityQuestion(
        "en-translate", "en", "Translate the Chinese word 苹果 into English. Answer with one word.", "Apple"
    ),
    QualityQuestion("en-opposite", "en", "What is the opposite of hot? Answer with one word.", "Cold"),
    QualityQuestion("en-planet", "en", "Which planet do we live on? Answer with one word.", "Earth"),
    QualityQuestion("en-upper", "en", "Write the word cat in capital letters only.", "CAT"),
    QualityQuestion("en-ocean", "en", "What is the largest ocean on Earth?", "The Pacific Ocean"),
    QualityQuestion("zh-capital", "zh", "中国的首都是哪里？只回答城市名。", "北京"),
    QualityQuestion("zh-sum", "zh", "三加四等于几？只回答数字。", "7"),
    QualityQuestion("zh-months", "zh", "一年有几个月？只回答数字。", "12"),
    QualityQuestion("zh-translate", "zh", "把英文单词 water 翻译成中文，只回答一个字。", "水"),
    QualityQuestion("zh-copy", "zh", "请原样重复：今天天气很好。", "今天天气很好。"),
    QualityQuestion("zh-sunrise", "zh", "太阳从哪个方向升起？只回答一个词。", "东方"),
    QualityQuestion("zh-opposite", "zh", "“大”的反义词是什么？只回答一个字。", "小"),
    QualityQuestion("zh-week", "zh", "一个星期有几天？只回答数字。", "7"),
    QualityQuestion("zh-ice", "zh", "水在零度以下会变成什么？只回答一个字。", "冰"),
    QualityQuestion("zh-colour", "zh", "红色和黄色混合得到什么颜色？只回答一个词。", "橙色"),
)

# A short hash of the questions, references and budget: what a manifest records and the float32 cache is keyed by.
QUALITY_SET_KEY = hashlib.sha256(
    json.dumps(
        {"max_tokens": QUALITY_SET_MAX_TOKENS, "questions": [asdict(q) for q in QUALITY_SET]},
        ensure_ascii=False,
        sort_keys=True,
    ).encode("utf-8")
).hexdigest()[:10]
