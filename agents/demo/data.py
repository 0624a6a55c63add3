"""Realistic mixed Chinese/English ERP, CRM and log events full of PII, plus broken ones, for demo and bench."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from topics.specs import CRM_EVENTS, ERP_EVENTS, LOG_EVENTS

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(rng: random.Random) -> str:
    """A unified social credit code with a valid GB 32100 check character."""
    body = (
        "91"
        + "".join(rng.choice("0123456789") for _ in range(6))
        + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    )
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def bank_card(rng: random.Random) -> str:
    """A UnionPay-style card number (62…, 16 or 19 digits) with a valid Luhn check digit."""
    length = rng.choice((16, 19))
    body = "62" + "".join(rng.choice("0123456789") for _ in range(length - 3))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def phone_spelling(number: str, rng: random.Random) -> str:
    """The same mobile number the way people actually type it."""
    styles = (
        number,
        f"{number[:3]} {number[3:7]} {number[7:]}",
        f"{number[:3]}-{number[3:7]}-{number[7:]}",
        f"+86 {number[:3]} {number[3:7]} {number[7:]}",
        f"+86{number}",
    )
    return rng.choice(styles)


@dataclass(frozen=True)
class DemoMessage:
    topic: str
    key: bytes | None
    value: bytes | None
    broken: bool
    tenant: str | None


@dataclass
class DemoStream:
    messages: list[DemoMessage] = field(default_factory=list)
    # Every PII value planted in a valid event, by type: the leak scan looks for each of them.
    pii: dict[str, set[str]] = field(default_factory=dict)

    def plant(self, kind: str, value: str) -> str:
        self.pii.setdefault(kind, set()).add(value)
        return value


class DemoGenerator:
    def __init__(self, *, seed: int, tenants: tuple[str, ...], run_id: str = "") -> None:
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.zh = Faker("zh_CN")
        self.en = Faker("en_US")
        self.zh.seed_instance(seed)
        self.en.seed_instance(seed + 1)
        self.tenants = tenants
        self.start = datetime(2026, 11, 1, tzinfo=UTC)

    def _envelope(self, event_id: str, tenant: str, payload: Any) -> dict[str, Any]:
        occurred = self.start + timedelta(seconds=self.rng.randint(0, 30 * 86400))
        return {
            "event_id": event_id,
            "tenant": tenant,
            "occurred_at": occurred.isoformat(),
            "payload": payload,
        }

    def _mobile(self) -> str:
        return "1" + self.rng.choice("3456789") + "".join(self.rng.choice("0123456789") for _ in range(9))

    def erp(self, stream: DemoStream, n: int, tenant: str) -> dict[str, Any]:
        name = stream.plant("PERSON", self.zh.name())
        phone = self._mobile()
        stream.plant("CN_MOBILE", phone)
        spelled = phone_spelling(phone, self.rng)
        card = stream.plant("BANK_CARD", bank_card(self.rng))
        spaced_card = " ".join(card[i : i + 4] for i in range(0, len(card), 4)) if self.rng.random() < 0.5 else card
        company_code = stream.plant("CN_USCC", uscc(self.rng))
        drug = self.rng.choice(["阿莫西林", "布洛芬缓释胶囊", "二甲双胍", "Amoxicillin", "Ibuprofen"])
        remarks = self.rng.choice(
            [
                f"客户{name}要求加急发货，联系电话{spelled}，{drug} 500MG bid，共30天。",
                f"发票抬头统一社会信用代码{company_code}，付款卡号{spaced_card}，请财务核对。",
                f"Deliver before Friday; contact {name} on {spelled}. {drug} 250mg tid prn.",
                f"退货原因：包装破损。经办人{name}，回访电话{spelled}。",
            ]
        )
        payload = {
            "doc_type": self.rng.choice(["order", "invoice"]),
            "doc_no": f"SO-{n:06d}",
            "remarks": remarks,
            "customer_name": name,
            "contact_phone": phone,
            "shipping_address": stream.plant("ADDRESS", self.zh.address()),
            "amount": round(self.rng.uniform(50, 50_000), 2),
            "currency": "CNY",
            "lines": [{"sku": f"SKU-{self.rng.randint(1000, 9999)}", "description": drug, "quantity": 2}],
        }
        return self._envelope(f"erp-{self.run_id}{n}", tenant, payload)

    def crm(self, stream: DemoStream, n: int, tenant: str) -> dict[str, Any]:
        zh_name = stream.plant("PERSON", self.zh.name())
        en_name = stream.plant("PERSON", self.en.name())
        phone = self._mobile()
        stream.plant("CN_MOBILE", phone)
        email = stream.plant("EMAIL_ADDRESS", self.en.email())
        id_number = stream.plant("CN_RESIDENT_ID", self.zh.ssn())
        notes = self.rng.choice(
            [
                f"{zh_name}来电投诉物流太慢，身份证号{id_number}，手机{phone_spelling(phone, self.rng)}，已安抚。",
                f"Follow-up call with {en_name}: wants a quote for 200 units, reply to {email}.",
                f"回访客户{zh_name}，对方表示满意，邮箱{email}，下周再联系。",
                f"Met {en_name} at the Shanghai expo; ID on file {id_number}; phone {phone_spelling(phone, self.rng)}.",
            ]
        )
        payload = {
            "customer_id": f"C-{n:05d}",
            "channel": self.rng.choice(["phone", "email", "visit", "wechat"]),
            "notes": notes,
            "contact": {
                "name": zh_name,
                "phone": phone,
                "email": email,
                "id_number": id_number,
                "company": self.zh.company(),
            },
            "next_action": self.rng.choice(["send quote", "回访", None]),
        }
        return self._envelope(f"crm-{self.run_id}{n}", tenant, payload)

    def log(self, stream: DemoStream, n: int, tenant: str) -> dict[str, Any]:
        ip = stream.plant("IP_ADDRESS", self.en.ipv4_public())
        email = stream.plant("EMAIL_ADDRESS", self.en.email())
        message = self.rng.choice(
            [
                f"login failed for {email} from {ip} (3 attempts)",
                f"password reset requested by {email}",
                f"rate limit exceeded for client {ip}",
                "healthcheck ok in 12 ms",
            ]
        )
        payload = {
            "level": self.rng.choice(["INFO", "WARN", "ERROR"]),
            "service": "billing",
            "message": message,
            "trace_id": f"{self.rng.getrandbits(64):016x}",
        }
        return self._envelope(f"log-{self.run_id}{n}", tenant, payload)

    def broken(self, n: int, tenant: str) -> DemoMessage:
        kind = n % 6
        topic = (ERP_EVENTS.name, CRM_EVENTS.name, LOG_EVENTS.name)[n % 3]
        secret_phone = self._mobile()  # broken events carry PII too: dead letters must not leak it
        if kind == 0:
            value: bytes = b'{"event_id": "bad-json", "tenant": "' + tenant.encode() + b'", ' + secret_phone.encode()
        elif kind == 1:
            value = "客户电话".encode("gbk") + secret_phone.encode()  # not UTF-8
        elif kind == 2:
            value = json.dumps({"event_id": f"bad-{n}", "tenant": tenant, "payload": {"note": secret_phone}}).encode()
        elif kind == 3:
            value = json.dumps(self._envelope(f"bad-{n}", tenant, {"doc_type": 7, "doc_no": ""})).encode()
        elif kind == 4:
            value = json.dumps(
                self._envelope(f"bad-{n}", tenant, {"level": "INFO", "service": "x", "message": "A" * 400_000})
            ).encode()
        else:
            value = b"[1, 2, 3]"
        return DemoMessage(topic, self.broken_key(n), value, True, tenant)

    def broken_key(self, n: int) -> bytes:
        return f"bad-{self.run_id}-{n}".encode()

    def stream(self, *, events: int, broken: int) -> DemoStream:
        stream = DemoStream()
        makers = ((self.erp, ERP_EVENTS.name), (self.crm, CRM_EVENTS.name), (self.log, LOG_EVENTS.name))
        broken_at = set(self.rng.sample(range(events + broken), broken)) if broken else set()
        made = 0
        for slot in range(events + broken):
            tenant = self.tenants[slot % len(self.tenants)]
            if slot in broken_at:
                stream.messages.append(self.broken(slot, tenant))
                continue
            maker, topic = makers[made % 3]
            event = maker(stream, made, tenant)
            stream.messages.append(
                DemoMessage(
                    topic,
                    event["event_id"].encode(),
                    json.dumps(event, ensure_ascii=False).encode(),
                    False,
                    tenant,
                )
            )
            made += 1
        return stream
