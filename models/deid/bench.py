"""Throughput of a de-identifier on realistic mixed Chinese/English records (for `sluice bench`)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from faker import Faker

from models.deid.engine import Deidentifier
from models.deid.recognizers.cn_uscc import uscc_check_char

_TEMPLATES = (
    "客户{zh_name}来电反映{zh_text}，手机{phone}，身份证{resident_id}。Agent note: {en_name} will call back.",
    "Ticket from {en_name} ({email}) at {company_en}: {en_text} 联系人：{zh_name}，电话{phone}。",
    "{zh_name}女士申请退款，银行卡号{card}，收货地址{address}。登录IP {ip}。{zh_text}",
    "合同方{company_zh}（统一社会信用代码{uscc}），法定代表人{zh_name}。{en_text} Contact {email}.",
    "Login failure for {email} from {ip}; user {en_name} in {city_en}. 备注：{zh_text}",
)


def _uscc(rng: random.Random) -> str:
    body = "91" + "".join(rng.choice("0123456789") for _ in range(6))
    body += "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc_check_char(body)


def sample_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` synthetic CRM/log records of about 200 characters, mixing Chinese and English PII."""
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed)
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        fields = {
            "zh_name": zh.name(),
            "en_name": en.name(),
            "phone": zh.phone_number(),
            "resident_id": zh.ssn(),
            "card": zh.credit_card_number(),
            "email": en.email(),
            "ip": en.ipv4() if rng.random() < 0.8 else en.ipv6(),
            "company_zh": zh.company(),
            "company_en": en.company(),
            "address": zh.address(),
            "city_en": en.city(),
            "uscc": _uscc(rng),
            "zh_text": zh.text(max_nb_chars=110).replace("\n", ""),
            "en_text": en.sentence(nb_words=16),
        }
        texts.append(_TEMPLATES[index % len(_TEMPLATES)].format(**fields))
    return texts


def measure_throughput(engine: Deidentifier, texts: Sequence[str], batch_size: int = 64) -> dict[str, float]:
    """Texts per second (and characters per second) of ``deidentify_batch`` over ``texts``."""
    # One warm-up batch so lazy loading and caches are not part of the figure.
    engine.deidentify_batch(list(texts[:batch_size]))
    started = time.perf_counter()
    for offset in range(0, len(texts), batch_size):
        engine.deidentify_batch(list(texts[offset : offset + batch_size]))
    elapsed = time.perf_counter() - started
    characters = sum(len(text) for text in texts)
    return {
        "texts": float(len(texts)),
        "seconds": elapsed,
        "texts_per_second": len(texts) / elapsed,
        "chars_per_second": characters / elapsed,
        "mean_chars": characters / max(len(texts), 1),
    }


# CRM-style sentences around a Chinese name; the last five are not written against the cue lists.
NAME_TEMPLATES = (
    "客户{name}来电咨询订单",
    "联系人：{name}",
    "{name}先生反映网络故障",
    "请转告{name}明天开会",
    "投诉人{name}，电话未接通",
    "经办人{name}已签字确认",
    "收件人：{name} 地址：北京市朝阳区",
    "今天{name}和同事去了上海",
    "{name}女士要求退款",
    "销售经理{name}负责该客户",
    "根据记录，{name}于上周办理了开户",
    "我们已经通知{name}本人",
    "{name}的订单已经发货",
    "本次会议由{name}主持",
    "感谢{name}的耐心等待",
)


def chinese_name_recall(per_template: int = 60, seed: int = 7) -> dict[str, float]:
    """Share of Faker zh_CN names fully covered by a PERSON span: jiagu alone vs the recognizer."""
    import jiagu

    from models.deid.recognizers.chinese_ner import ChineseNerRecognizer, decode_bio

    recognizer = ChineseNerRecognizer()
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    hits = {"jiagu_only": 0, "recognizer": 0}
    total = 0
    for template in NAME_TEMPLATES:
        for _ in range(per_template):
            name = faker.name()
            text = template.format(name=name)
            start, end = text.index(name), text.index(name) + len(name)
            words: list[str] = jiagu.seg(text)
            offsets = [sum(len(word) for word in words[:index]) for index in range(len(words) + 1)]
            raw = [
                (offsets[first], offsets[last]) for label, first, last in decode_bio(jiagu.ner(words)) if label == "PER"
            ]
            ours = [(r.start, r.end) for r in recognizer.analyze(text, ["PERSON"])]
            hits["jiagu_only"] += any(s <= start and end <= e for s, e in raw)
            hits["recognizer"] += any(s <= start and end <= e for s, e in ours)
            total += 1
    return {key: value / total for key, value in hits.items()} | {"names": float(total)}
