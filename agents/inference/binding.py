"""Which tenant a request is answered for: the tenant whose topic it arrived on, not the one its body names.

Kafka never tells a consumer which principal produced a record, so nothing inside a request (a field, a header)
can prove who sent it. What the broker does enforce is who may write a topic: on the secured broker only principal
`tenant-<t>` may write `inference.requests.<t>.v1` (agents/processes/access.py). So the topic is the proof:

- a request on `inference.requests.<t>.v1` is answered for tenant `<t>`, on `inference.responses.<t>.v1`, which
  only `tenant-<t>` may read;
- its body must name tenant `<t>`: one that names another tenant is refused with an `error` response on `<t>`'s
  reply topic saying why, and a `request.tenant_mismatch` audit event;
- its `reply_to`, when set, must be `<t>`'s reply topic: an answer built from `<t>`'s records must not be written
  where another principal reads (refused the same way, audit event `request.reply_to_refused`).

A request on the shared `inference.requests.v1` is bound to no tenant and is answered for the tenant it names, as
before: in plain mode anyone may write that topic, in secure mode only admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.inference import InferenceRequest
from topics.specs import tenant_of_request_topic, tenant_response_topic

RefusalKind = Literal["request.tenant_mismatch", "request.reply_to_refused"]


@dataclass(frozen=True)
class Refusal:
    """Why a request on a tenant's topic is not answered; `kind` is the audit event type."""

    kind: RefusalKind
    reason: str


@dataclass(frozen=True)
class TenantBinding:
    """The tenant a request topic belongs to, and the reply topic its answers go to."""

    tenant: str
    request_topic: str
    reply_topic: str

    def refusal(self, request: InferenceRequest) -> Refusal | None:
        if request.tenant != self.tenant:
            return Refusal(
                "request.tenant_mismatch",
                f"the request names tenant {request.tenant!r} but arrived on {self.request_topic}, which only tenant "
                f"{self.tenant!r} may write: requests there are answered for that tenant only",
            )
        if request.reply_to is not None and request.reply_to != self.reply_topic:
            return Refusal(
                "request.reply_to_refused",
                f"reply_to {request.reply_to!r} is not {self.reply_topic}: answers to tenant {self.tenant!r}'s "
                "requests go to its own reply topic only (leave reply_to unset)",
            )
        return None

    def bind(self, request: InferenceRequest) -> InferenceRequest:
        """The request as answered: its response goes to the tenant's reply topic."""
        return request.model_copy(update={"reply_to": self.reply_topic})


def binding_of(topic: str) -> TenantBinding | None:
    """The binding of a tenant's request topic; None for the shared inference.requests.v1."""
    tenant = tenant_of_request_topic(topic)
    if tenant is None:
        return None
    return TenantBinding(tenant, topic, tenant_response_topic(tenant).name)
