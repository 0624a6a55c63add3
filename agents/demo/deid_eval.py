"""`sluice deid eval`: what de-identification keeps and what it finds, measured on labelled generated text.

Three figures, each on texts generated from seeds the recognizers were not tuned on (agents/demo/deid_corpus.py):
- keep rate of protected identifiers: planted document numbers, SKUs and trace ids that come out verbatim;
- recall of person names, by the languages of the text: names whose every character lies in a PERSON entity
  (and, beside it, precision: PERSON entities that touch a planted name);
- structured leaks: planted phones, IDs, cards, USCCs, e-mail and IP addresses still readable in any spelling.
Place names kept (country and city names under the configured operators) are reported beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.demo.deid_corpus import (
    PERSON_KIND,
    PLACE_KIND,
    PROTECTED_KINDS,
    STRUCTURED_KINDS,
    DeidCorpus,
    LabelledText,
    Planted,
)
from agents.tools.leaks import leak_variants

if TYPE_CHECKING:
    from models.deid import Deidentifier, DeidResult

# Seeds no recognizer or filter was tuned on; development used seeds 1-3.
HELD_OUT_SEEDS = (9001, 9002, 9003)
TEXTS_PER_SEED = 400
BATCH_SIZE = 64
# What the issue asks of each figure.
AIMS = {"protected_keep_rate": 0.99, "mixed_person_recall": 0.95, "structured_leaks": 0}


@dataclass
class _Tally:
    hits: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, hit: bool) -> None:
        self.totals[key] += 1
        self.hits[key] += hit

    def rate(self, key: str) -> float | None:
        return round(self.hits[key] / self.totals[key], 4) if self.totals[key] else None

    def rates(self) -> dict[str, dict[str, Any]]:
        return {
            key: {"rate": self.rate(key), "hits": self.hits[key], "total": self.totals[key]}
            for key in sorted(self.totals)
        }


def _covered(planted: Planted, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether every character of the planted span lies inside one of the spans."""
    return all(any(start <= index < end for start, end in spans) for index in range(planted.start, planted.end))


def _survives(sample: LabelledText, planted: Planted, output: str) -> bool:
    # Counted, not just found: a value written twice must come out twice.
    value = sample.value(planted)
    return output.count(value) >= sample.text.count(value)


def score(samples: Sequence[LabelledText], results: Sequence[DeidResult]) -> dict[str, Any]:
    """The evaluation figures for texts and what de-identification made of them (one result per text)."""
    protected, persons, places, person_entities = _Tally(), _Tally(), _Tally(), _Tally()
    leaks: Counter[str] = Counter()
    planted_structured = 0
    for sample, result in zip(samples, results, strict=True):
        person_spans = [(entity.start, entity.end) for entity in result.entities if entity.type == PERSON_KIND]
        names = [(p.start, p.end) for p in sample.planted if p.kind == PERSON_KIND]
        for start, end in person_spans:
            # Precision: a PERSON entity that touches no planted name replaced words that were not a name.
            person_entities.add("all", any(start < name_end and name_start < end for name_start, name_end in names))
        for planted in sample.planted:
            if planted.kind in PROTECTED_KINDS:
                kept = _survives(sample, planted, result.text)
                protected.add("all", kept)
                protected.add(planted.kind, kept)
            elif planted.kind == PERSON_KIND:
                found = _covered(planted, person_spans)
                persons.add(sample.language, found)
                if sample.language != "mixed":
                    persons.add("single-language", found)
            elif planted.kind == PLACE_KIND:
                places.add("all", _survives(sample, planted, result.text))
            elif planted.kind in STRUCTURED_KINDS:
                planted_structured += 1
                if any(variant in result.text for variant in leak_variants(planted.kind, sample.value(planted))):
                    leaks[planted.kind] += 1
    figures = {
        "protected_keep_rate": protected.rate("all"),
        "mixed_person_recall": persons.rate("mixed"),
        "structured_leaks": sum(leaks.values()),
    }
    return {
        **figures,
        "aims_met": {
            "protected_keep_rate": (figures["protected_keep_rate"] or 0) >= AIMS["protected_keep_rate"],
            "mixed_person_recall": (figures["mixed_person_recall"] or 0) >= AIMS["mixed_person_recall"],
            "structured_leaks": figures["structured_leaks"] == AIMS["structured_leaks"],
        },
        "protected": protected.rates(),
        "person_recall": persons.rates(),
        "person_precision": person_entities.rates().get("all"),
        "place_keep_rate": places.rates().get("all"),
        "structured": {"planted": planted_structured, "leaked_by_type": dict(sorted(leaks.items()))},
    }


def _deidentify(engine: Deidentifier, texts: Sequence[str]) -> list[DeidResult]:
    results: list[DeidResult] = []
    for start in range(0, len(texts), BATCH_SIZE):
        results.extend(engine.deidentify_batch(texts[start : start + BATCH_SIZE]))
    return results


def evaluate(engine: Deidentifier, seeds: Iterable[int], texts_per_seed: int = TEXTS_PER_SEED) -> dict[str, Any]:
    """Generate ``texts_per_seed`` labelled texts per seed, de-identify them with ``engine`` and score the result."""
    seeds = tuple(seeds)
    samples = [sample for seed in seeds for sample in DeidCorpus(seed).texts(texts_per_seed)]
    results = _deidentify(engine, [sample.text for sample in samples])
    languages = Counter(sample.language for sample in samples)
    return {
        "engine": engine.version,
        "seeds": list(seeds),
        "texts": len(samples),
        "texts_by_language": dict(sorted(languages.items())),
        **score(samples, results),
    }
