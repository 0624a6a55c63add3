"""Words that are never (part of) a name: acronyms, business words, roles, titles and cue words, numbers.

NER takes "ERP" for an organisation and "Customer" for part of a person; the span trimming (ner_spans.py) and the
mixed-script recognizer leave these words outside a name. No heavy imports.
"""

from __future__ import annotations

__all__ = ["ACRONYMS", "is_code_word", "is_not_name_word", "is_person_cue"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# All-caps business and IT words that NER takes for names, companies or places when they stand alone.
ACRONYMS = _words(
    "ERP CRM SKU API SAP HR IT PO SO DN INV RMA GRN VAT KPI SLA FAQ ETA EOD QA QC BOM MRP WMS TMS MES OA SCM "
    "PLM BI SQL UI UX URL ID IP OTP PDF CSV JSON XML HTTP HTTPS SMS VIP CEO CFO CTO COO GM PM FYI ASAP RFQ RFP "
    "MOQ FOB CIF EXW DDP POS SaaS AWS GCP SSO MFA VPN LAN CPU GPU RAM SSD USB EDI EAN UPC QR OEM ODM"
)
# Business words, compared in lower case.
_BUSINESS_WORDS = _words(
    "order orders invoice invoices sku skus item items product products shipment shipments delivery ticket "
    "ref reference request trace quote refund payment warehouse expo office stock units note notes "
    "account accounts system sync login error tel phone mobile fax email"
)
# Roles, titles and the verbs and particles that announce a person (lower case, no dot). Outside any NER span:
# they are cut off an organisation's edge too ("Dear Mary Evans" tagged ORG, the person cut out of it). Words that
# are also given names (Per, Dean, Hunter, Will, Grant) are left out: trimming one would leave it readable.
_PERSON_CUE_WORDS = _words(
    "customer customers client clients mr mrs ms miss mx dr prof professor sir madam dear hi hello hey attn cc "
    "contact manager buyer engineer user supplier vendor sales rep owner approver agent courier recipient "
    "consignee director ceo cfo cto coo supervisor colleague mgr met meet called call ask asked please thanks "
    "spoke emailed visited via from with by and to the our your their team support person"
)
_DETERMINERS = frozenset({"the", "a", "an", "our", "your", "their", "my", "this", "that"})


def is_code_word(word: str) -> bool:
    """An acronym (ERP) or a word without letters (a number): never part of anyone's name."""
    bare = word.rstrip(".")
    return bare in ACRONYMS or not any(char.isalpha() for char in bare)


def is_not_name_word(word: str) -> bool:
    """A word that is never (part of) a name where it stands at a name's start: an acronym, a number, a business
    or cue word. After a name a business word may be a surname (Ethan Case), so only is_code_word holds there."""
    lower = word.rstrip(".").lower()
    return is_code_word(word) or lower in _BUSINESS_WORDS or lower in _DETERMINERS or lower in _PERSON_CUE_WORDS


def is_person_cue(word: str) -> bool:
    """A role, title or verb that announces a person next (customer, Dr., met, to, with)."""
    return word.rstrip(".").lower() in _PERSON_CUE_WORDS
