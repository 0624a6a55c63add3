"""The inference benches' fixed workload: the same chat prompts, rendered as the service renders them, and the
same number of new tokens for each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.dialog.templates import RetrievedRecord

MAX_TOKENS = 48

# Customer-service questions without personal data and without the default policy's keywords (office hours,
# legal action, identity numbers), so that every one of them goes to the model. {p} is a product.
_EN = (
    "How do I return the {p} I ordered last week?",
    "My {p} arrived with a scratch on the side. What can I do?",
    "Can I change the delivery address for my {p} order?",
    "How long does the warranty on the {p} last?",
    "The {p} stopped working after two days. How do I get a replacement?",
    "Is the {p} available in another colour?",
    "Why was I charged twice for the {p}?",
    "When will my {p} be shipped?",
)
_ZH = (
    "我上周买的{p}怎么退货？",
    "收到的{p}外包装破损了，怎么处理？",
    "{p}的保修期是多久？",
    "我的{p}订单可以改收货地址吗？",
    "{p}用了两天就坏了，可以换新的吗？",
    "{p}什么时候发货？",
    "为什么{p}的订单扣了两次款？",
    "{p}有没有其他颜色可选？",
)
_PRODUCTS_EN = (
    "electric kettle",
    "blender",
    "desk lamp",
    "rice cooker",
    "air purifier",
    "coffee grinder",
    "wireless headphones",
    "vacuum cleaner",
)
_PRODUCTS_ZH = ("电水壶", "榨汁机", "台灯", "电饭煲", "空气净化器", "咖啡研磨机", "无线耳机", "吸尘器")


def workload(count: int) -> list[str]:
    """count distinct prompts (up to 128), English and Chinese interleaved, always the same for the same count."""
    english = [t.format(p=p) for p in _PRODUCTS_EN for t in _EN]
    chinese = [t.format(p=p) for p in _PRODUCTS_ZH for t in _ZH]
    mixed = [prompt for pair in zip(english, chinese, strict=True) for prompt in pair]
    if not 1 <= count <= len(mixed):
        raise ValueError(f"the inference workload has 1 to {len(mixed)} prompts, asked for {count}")
    return mixed[:count]


def render_prompts(
    generator: Any,
    tenant: str,
    prompts: Sequence[str],
    retrieved: Sequence[RetrievedRecord] = (),
    *,
    context_tokens: int | None = None,
    aliases: bool = False,
) -> list[str]:
    """The prompts as the service renders a first chat turn, with `retrieved` as its context (none by default),
    fitted to `context_tokens` as the service fits them (None: every record whole), pseudonyms shown as aliases
    when `aliases` (models/dialog/aliases.py; the workload's questions hold none)."""
    import dataclasses

    from models.dialog import load_templates
    from models.dialog.aliases import AliasMap
    from models.dialog.record_budget import fit_records

    if aliases:
        alias_map = AliasMap.for_texts((r.text for r in retrieved), reserved=(r.record_id for r in retrieved))
        retrieved = [dataclasses.replace(r, text=alias_map.to_model(r.text)) for r in retrieved]
    if context_tokens is not None:
        retrieved = fit_records(retrieved, budget_tokens=context_tokens, count_tokens=generator.count_tokens)
    system = load_templates()["chat-default"].render(tenant, retrieved)
    return [
        generator.render_chat([{"role": "system", "content": system}, {"role": "user", "content": p}]) for p in prompts
    ]


def generate_tokens(generator: Any, rendered: Sequence[str]) -> int:
    """Generate for rendered prompts in one `generate_batch` call (greedy, MAX_TOKENS each); completion tokens."""
    out = generator.generate_batch(rendered, max_tokens=[MAX_TOKENS] * len(rendered), temperature=[0.0] * len(rendered))
    return sum(g.completion_tokens for g in out)
