"""The bilingual retrieval evaluation set: seeded records and queries whose relevant records are known by construction.

Every record is one (topic, item, city) event — a late delivery of a laptop from Shanghai, a suspicious login to the
VPN from Chengdu — written in Chinese, English or mixed (Chinese with English terms), naming a person by pseudonym.
The grid is complete, so each record has seven neighbours on the same item and city (other topics) and ten on the
same topic and city or item: a query has to get all three right. Queries are worded apart from the records (other
templates, no order numbers), so neither words nor meaning alone is enough to be perfect.

Query categories, by construction: `zh` (Chinese query, Chinese record), `en`, `mixed` (query or record mixes the
two), `cross` (Chinese query for an English record and the reverse) and `pseudonym` (the query names a person; the
relevant records are that person's records about the item it names).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from itertools import product

CATEGORIES = ("zh", "en", "mixed", "cross", "pseudonym")
LANGUAGES = ("zh", "en", "mixed")

PRODUCTS = (
    ("笔记本电脑", "laptop"),
    ("打印机", "printer"),
    ("手机", "mobile phone"),
    ("显示器", "monitor"),
    ("耳机", "headphones"),
    ("路由器", "router"),
)
SYSTEMS = (
    ("ERP系统", "ERP system"),
    ("企业邮箱", "corporate mailbox"),
    ("财务系统", "finance system"),
    ("VPN", "VPN"),
    ("客服后台", "support console"),
    ("仓储系统", "warehouse system"),
)
CITIES = (
    ("上海", "Shanghai"),
    ("北京", "Beijing"),
    ("深圳", "Shenzhen"),
    ("广州", "Guangzhou"),
    ("杭州", "Hangzhou"),
    ("成都", "Chengdu"),
)


@dataclass(frozen=True)
class Topic:
    """Templates of one kind of event: records and queries per language. Slots: {p} person, {item}, {item_en},
    {city}, {n} order number, {d} days, {amt} amount (records only carry {p}, {n}, {d}, {amt})."""

    name: str
    items: tuple[tuple[str, str], ...]
    records: dict[str, tuple[str, ...]]
    queries: dict[str, tuple[str, ...]]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "delay",
        PRODUCTS,
        {
            "zh": (
                "客户{p}来电投诉：从{city}仓库发出的{item}（订单{n}）已经延误{d}天还没送到，物流太慢。",
                "{city}站点反馈，{p}购买的{item}在途{d}天仍未签收，快递信息一直没有更新，客户催促发货进度。",
            ),
            "en": (
                "Customer {p} called to complain that the {item} from our {city} warehouse (order {n}) is "
                "{d} days late.",
                "The {city} hub reports that the {item} bought by {p} has been in transit for {d} days with no "
                "tracking update.",
            ),
            "mixed": ("客户{p}说 {item_en} 从{city}仓库发货后 delay 了{d}天，tracking 一直没更新，物流太慢。",),
        },
        {
            "zh": ("{city}发出的{item}物流太慢，一直没到货", "{item}从{city}发货延误了怎么办"),
            "en": (
                "{item} shipment from {city} is delayed and has not arrived",
                "slow delivery of a {item} sent from {city}",
            ),
            "mixed": ("{city}的 {item_en} 快递 delay 了",),
        },
    ),
    Topic(
        "damaged",
        PRODUCTS,
        {
            "zh": (
                "{p}收到的{item}外包装破损，机身有裂痕，订单{n}从{city}仓发出，客户要求换货。",
                "{city}客户{p}反映{item}到货时已经摔坏，无法开机。",
            ),
            "en": (
                "{p} received the {item} with a crushed box and a cracked case; order {n} was shipped from {city}.",
                "A customer in {city}, {p}, reports that the {item} arrived broken and will not power on.",
            ),
            "mixed": ("{p}收到的 {item_en} 外壳 broken 了，{city}仓发的货，要求 replacement。",),
        },
        {
            "zh": ("{city}寄出的{item}到货损坏", "{item}收到时坏了，{city}发的货"),
            "en": ("{item} arrived damaged, shipped from {city}", "broken {item} delivered from the {city} warehouse"),
            "mixed": ("{city}发的 {item_en} 到货 damaged",),
        },
    ),
    Topic(
        "invoice",
        PRODUCTS,
        {
            "zh": (
                "{p}申请为订单{n}（{item}，{city}分公司采购）开具增值税专用发票，金额{amt}元。",
                "{city}财务提醒：{p}购买{item}的发票还没有开出，请尽快补开。",
            ),
            "en": (
                "{p} asked for a VAT invoice for order {n}: a {item} bought by the {city} branch, {amt} yuan.",
                "Finance in {city} notes that the invoice for the {item} purchased by {p} has not been issued yet.",
            ),
            "mixed": ("{city}分公司的{p}要 {item_en} 订单{n}的 invoice，金额{amt}元，还没开。",),
        },
        {
            "zh": ("{city}分公司{item}的发票还没开", "需要给{city}采购的{item}开发票"),
            "en": (
                "invoice request for the {item} purchased in {city}",
                "{city} branch still waiting for the {item} invoice",
            ),
            "mixed": ("{city} {item_en} 的 invoice 怎么还没开",),
        },
    ),
    Topic(
        "refund",
        PRODUCTS,
        {
            "zh": (
                "{p}要求退款：在{city}门店购买的{item}不想要了，订单{n}金额{amt}元。",
                "{city}客服记录：{p}对{item}不满意，申请全额退款。",
            ),
            "en": (
                "{p} requests a refund for the {item} bought at the {city} store, order {n}, {amt} yuan.",
                "Support in {city} logged that {p} is unhappy with the {item} and wants the money back.",
            ),
            "mixed": ("{p}在{city}门店买的 {item_en} 想 refund，订单{n}，{amt}元。",),
        },
        {
            "zh": ("{city}门店{item}退款申请", "买的{item}要退钱，{city}"),
            "en": (
                "refund for a {item} purchased at the {city} store",
                "customer wants money back for the {item}, {city}",
            ),
            "mixed": ("{city}门店的 {item_en} refund 申请",),
        },
    ),
    Topic(
        "login",
        SYSTEMS,
        {
            "zh": (
                "安全告警：账号{p}于凌晨从{city}的新设备登录{item}，登录地点异常。",
                "{item}检测到{p}在{city}连续{d}次登录失败，账号已临时锁定。",
            ),
            "en": (
                "Security alert: account {p} signed in to the {item} from a new device in {city} at 3 a.m.",
                "The {item} saw {d} failed sign-in attempts for {p} from {city}; the account is locked.",
            ),
            "mixed": ("Security alert：{p}从{city}的新设备 login 了 {item_en}，地点异常。",),
        },
        {
            "zh": ("{item}在{city}的异常登录", "有人从{city}登录{item}"),
            "en": ("suspicious login to the {item} from {city}", "new device signed in to the {item} in {city}"),
            "mixed": ("{city}异常 login {item_en}",),
        },
    ),
    Topic(
        "payment",
        PRODUCTS,
        {
            "zh": (
                "{p}支付订单{n}（{item}）时银行卡扣款失败，{city}门店请客户重新付款。",
                "{city}收银台报错：{p}购买{item}的付款被拒绝，金额{amt}元。",
            ),
            "en": (
                "Card payment for order {n} ({item}) by {p} failed; the {city} store asked the customer to pay again.",
                "Checkout error in {city}: the payment of {amt} yuan by {p} for a {item} was declined.",
            ),
            "mixed": ("{p}买 {item_en} 的 payment 失败了，{city}门店 checkout 报错，{amt}元。",),
        },
        {
            "zh": ("{city}{item}付款失败", "{item}订单支付被拒，{city}"),
            "en": ("payment declined for a {item} in {city}", "{item} order card payment failed, {city} store"),
            "mixed": ("{city} {item_en} payment 失败",),
        },
    ),
    Topic(
        "address",
        PRODUCTS,
        {
            "zh": (
                "{p}来电要求修改收货地址：订单{n}的{item}改送到{city}。",
                "{city}配送中心收到{p}的改址申请，{item}需要重新安排派送。",
            ),
            "en": (
                "{p} called to change the delivery address: the {item} of order {n} should now go to {city}.",
                "The {city} distribution centre got an address change from {p}; the {item} must be rerouted.",
            ),
            "mixed": ("{p}要改 shipping address，{item_en} 订单{n}改送{city}。",),
        },
        {
            "zh": ("{item}改送到{city}的地址变更", "修改{item}订单收货地址，{city}"),
            "en": ("change the shipping address of the {item} to {city}", "reroute a {item} order to {city}"),
            "mixed": ("{item_en} 改 address 到{city}",),
        },
    ),
    Topic(
        "wrong_item",
        PRODUCTS,
        {
            "zh": (
                "{p}投诉发错货：订购的是{item}，{city}仓却寄来了别的商品，订单{n}。",
                "{city}售后登记：{p}收到的包裹里不是{item}，要求补发。",
            ),
            "en": (
                "{p} complains that the {city} warehouse sent the wrong product instead of the {item}, order {n}.",
                "After-sales in {city} logged that the parcel {p} received did not contain the {item} ordered.",
            ),
            "mixed": ("{p}投诉 wrong item：订的 {item_en}，{city}仓寄错了，订单{n}。",),
        },
        {
            "zh": ("{city}仓库发错了{item}", "收到的不是我订的{item}，{city}"),
            "en": (
                "wrong item shipped instead of the {item} from {city}",
                "{city} warehouse sent the wrong product, {item} order",
            ),
            "mixed": ("{city}仓 {item_en} 发错货",),
        },
    ),
)

PSEUDONYM_QUERIES = {
    "zh": "{p}关于{item}的工单",
    "en": "what did {p} report about the {item}?",
}


@dataclass(frozen=True)
class EvalRecord:
    """One de-identified record of the set, with the facts its relevance is judged on."""

    record_id: str
    language: str
    text: str
    topic: str
    item: int
    city: int
    person: str


@dataclass(frozen=True)
class EvalQuery:
    """A query, its category and the ids of the records relevant to it (never empty)."""

    query_id: str
    category: str
    language: str
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class EvalSet:
    seed: int
    records: tuple[EvalRecord, ...]
    queries: tuple[EvalQuery, ...]


def person_pseudonym(seed: int, index: int) -> str:
    """A pseudonym in the production format, stable for (seed, index); no real value behind it."""
    return f"<PERSON_{hashlib.sha256(f'retrieval-set/{seed}/{index}'.encode()).hexdigest()[:16]}>"


def generate_eval_set(seed: int = 7, *, query_share: float = 0.4, people: int = 120) -> EvalSet:
    """The whole grid of records (one per topic, item and city: 288) and queries for `query_share` of them.

    Record languages are drawn half Chinese, three tenths English and one fifth mixed (the data is mostly Chinese).
    A sampled Chinese or English record gets a query in its own language and one in the other (cross); a mixed record
    gets one in each language (both `mixed`); every third sampled record also gets a mixed query. 24 queries name a
    person. Same seed, same set.
    """
    rng = random.Random(seed)
    pool = [person_pseudonym(seed, i) for i in range(people)]
    records: list[EvalRecord] = []
    for topic, (item, city) in product(TOPICS, product(range(len(PRODUCTS)), range(len(CITIES)))):
        language = rng.choices(LANGUAGES, weights=(5, 3, 2))[0]
        person = rng.choice(pool)
        template = rng.choice(topic.records[language])
        text = template.format(**_slots(topic, item, city, language, person), **_numbers(rng))
        records.append(EvalRecord(f"{topic.name}-{item}-{city}", language, text, topic.name, item, city, person))

    topics = {topic.name: topic for topic in TOPICS}
    queries: list[EvalQuery] = []

    def ask(category: str, language: str, record: EvalRecord) -> None:
        topic = topics[record.topic]
        template = rng.choice(topic.queries[language])
        text = template.format(**_slots(topic, record.item, record.city, language, ""))
        queries.append(EvalQuery(f"q{len(queries):03d}", category, language, text, frozenset({record.record_id})))

    sampled = rng.sample(records, round(len(records) * query_share))
    for index, record in enumerate(sampled):
        if record.language == "mixed":
            ask("mixed", "zh", record)
            ask("mixed", "en", record)
        else:
            other = "en" if record.language == "zh" else "zh"
            ask(record.language, record.language, record)
            ask("cross", other, record)
        if index % 3 == 0:
            ask("mixed", "mixed", record)

    for record in rng.sample(records, 24):
        language = rng.choice(("zh", "en"))
        names = topics[record.topic].items[record.item]
        named = names[0] if language == "zh" else names[1]
        text = PSEUDONYM_QUERIES[language].format(p=record.person, item=named)
        relevant = frozenset(
            r.record_id for r in records if r.person == record.person and topics[r.topic].items[r.item] == names
        )
        queries.append(EvalQuery(f"q{len(queries):03d}", "pseudonym", language, text, relevant))
    return EvalSet(seed, tuple(records), tuple(queries))


def _slots(topic: Topic, item: int, city: int, language: str, person: str) -> dict[str, str]:
    item_zh, item_en = topic.items[item]
    city_zh, city_en = CITIES[city]
    english = language == "en"
    return {
        "p": person,
        "item": item_en if english else item_zh,
        "item_en": item_en,
        "city": city_en if english else city_zh,
    }


def _numbers(rng: random.Random) -> dict[str, str]:
    return {
        "n": f"SO{rng.randrange(10_000, 99_999)}",
        "d": str(rng.randint(2, 9)),
        "amt": str(rng.randrange(300, 9_000)),
    }
