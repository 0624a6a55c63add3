"""The de-identification engine: pattern/checksum recognizers, then batched NER, then operators."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import RecognizerResult as AnonymizerInput

from models.deid.context import SubstringContextEnhancer
from models.deid.detection_view import detection_views
from models.deid.entity_types import ENTITY_TYPES, IDENTIFIER_TYPES, NER_TYPES
from models.deid.ner_spans import cut_out, refine_ner_spans
from models.deid.nlp import LANGUAGE, NerOnlySpacyNlpEngine, english_view
from models.deid.operators import operator_configs, validate_operators
from models.deid.overlaps import Detection, resolve_overlaps
from models.deid.places import label_addresses, label_places
from models.deid.protected import SpanPattern, protected_spans
from models.deid.pseudonyms import pseudonym
from models.deid.recognizers import (
    ChineseNerRecognizer,
    EnglishCuedPersonRecognizer,
    MixedScriptPersonRecognizer,
    pattern_recognizers,
)
from models.deid.recognizers.chinese_ner import jiagu_version

__all__ = ["DeidResult", "Deidentifier", "Entity", "PresidioDeidentifier"]

# Bump when a change to recognizers, resolution or operators changes the output for the same input.
# deid-4: the pattern recognizers read detection views (invisible characters, any digits, numerals,
# separators and glued letters), not the text as written.
# deid-5: NER spans leave protected identifiers, cue words and acronyms outside; street-level LOCATIONs are
# ADDRESS; names in mixed Chinese/English text are found across the script boundary.
ENGINE_VERSION = "deid-5"
_MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class Entity:
    """A detected entity: type, offsets into the original text and confidence; never the value."""

    type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class DeidResult:
    """A de-identified text with what was found in it and the pseudonyms of its data subjects."""

    text: str
    entities: tuple[Entity, ...]
    subjects: tuple[str, ...]

    @property
    def entity_counts(self) -> dict[str, int]:
        return dict(Counter(entity.type for entity in self.entities))


class Deidentifier(Protocol):
    """What the streaming agents need: a version for provenance and a batch call.

    ``protected`` adds patterns (a rule pack's protected identifiers) to the built-in ones whose matches NER
    must leave verbatim (models/deid/protected.py).
    """

    version: str

    def deidentify_batch(self, texts: Sequence[str], protected: Sequence[SpanPattern] = ()) -> list[DeidResult]: ...


class PresidioDeidentifier:
    """Presidio cascade: pattern + checksum recognizers on every text, then spaCy (English, batched with
    ``nlp.pipe``), jiagu (Chinese) and the cue and mixed-script name recognizers; NER spans refined (protected
    identifiers and pattern hits cut out, cue words and acronyms trimmed off, LOCATION told into PLACE, ADDRESS
    and the rest), overlap resolution, and the configured operator per type."""

    def __init__(
        self,
        *,
        pseudonym_key: bytes,
        operators: Mapping[str, str],
        ner_enabled: bool = True,
        ner_batch_size: int = 64,
    ) -> None:
        if len(pseudonym_key) < _MIN_KEY_BYTES:
            raise ValueError(f"pseudonym_key must be at least {_MIN_KEY_BYTES} bytes")
        if ner_batch_size < 1:
            raise ValueError("ner_batch_size must be at least 1")
        # Validated against every type, not only the enabled ones, so switching NER off never turns
        # a valid configuration into an invalid one.
        validate_operators(operators, ENTITY_TYPES)
        self._key = bytes(pseudonym_key)
        self._ner_batch_size = ner_batch_size
        self._patterns = AnalyzerEngine(
            registry=RecognizerRegistry(recognizers=pattern_recognizers(LANGUAGE), supported_languages=[LANGUAGE]),
            nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}]),
            supported_languages=[LANGUAGE],
            context_aware_enhancer=SubstringContextEnhancer(),
        )
        self._nlp: NerOnlySpacyNlpEngine | None = None
        self._ner: AnalyzerEngine | None = None
        self.version = f"{ENGINE_VERSION}+patterns-only"
        if ner_enabled:
            self._nlp = NerOnlySpacyNlpEngine()
            self._nlp.load()
            # Only our recognizers: Presidio's default set (US SSN, UK NHS, ...) is never loaded.
            registry = RecognizerRegistry(
                recognizers=[
                    SpacyRecognizer(supported_language=LANGUAGE, supported_entities=list(NER_TYPES)),
                    ChineseNerRecognizer(LANGUAGE),
                    EnglishCuedPersonRecognizer(LANGUAGE),
                    MixedScriptPersonRecognizer(LANGUAGE),
                ],
                supported_languages=[LANGUAGE],
            )
            self._ner = AnalyzerEngine(
                registry=registry,
                nlp_engine=self._nlp,
                supported_languages=[LANGUAGE],
                context_aware_enhancer=SubstringContextEnhancer(),
            )
            self.version = f"{ENGINE_VERSION}+{self._nlp.model_version()}+jiagu-{jiagu_version()}"
        self._operators = operator_configs(operators, ENTITY_TYPES, self._key)
        self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def deidentify_batch(self, texts: Sequence[str], protected: Sequence[SpanPattern] = ()) -> list[DeidResult]:
        """De-identify ``texts``; the result for each text does not depend on the rest of the batch.

        Identifier-shaped matches of the built-in and the ``protected`` patterns are cut out of NER detections
        only: pattern/checksum detections run first and are never shortened, so a protected pattern cannot
        shield a phone, a card or a resident ID.
        """
        if not texts:
            return []
        pattern_hits = [self._find_patterns(text) for text in texts]
        ner_hits = self._run_ner(texts, pattern_hits)
        return [
            self._finish(text, patterns, ner, protected_spans(text, protected))
            for text, patterns, ner in zip(texts, pattern_hits, ner_hits, strict=True)
        ]

    def _find_patterns(self, text: str) -> list[Detection]:
        """Pattern/checksum detections in ``text``'s detection views, as spans of ``text`` itself.

        The views undo formatting tricks (invisible characters, other digits and numerals, separators,
        glued letters) whatever the cleaning packs did or did not do before; what is replaced is the
        original span, invisible characters and all.
        """
        detections: list[Detection] = []
        for view in detection_views(text):
            for hit in self._patterns.analyze(text=view.text, language=LANGUAGE):
                start, end = view.original_span(hit.start, hit.end)
                detections.append(Detection(hit.entity_type, start, end, hit.score, from_pattern=True))
        return detections

    def _run_ner(self, texts: Sequence[str], pattern_hits: Sequence[list[Detection]]) -> list[list[RecognizerResult]]:
        if self._nlp is None or self._ner is None:
            return [[] for _ in texts]
        # spaCy reads a view without Chinese and without what the patterns already found; offsets are
        # unchanged, so its entities apply to the original text, which jiagu reads.
        views = [
            english_view(text, [(hit.start, hit.end) for hit in hits])
            for text, hits in zip(texts, pattern_hits, strict=True)
        ]
        artifacts = self._nlp.process_batch(views, LANGUAGE, batch_size=self._ner_batch_size)
        # Each item is (view, artifacts); the view is spaCy's input, analysis runs on the original.
        return [
            self._ner.analyze(text=text, language=LANGUAGE, nlp_artifacts=item[1])
            for text, item in zip(texts, artifacts, strict=True)
        ]

    def _finish(
        self,
        text: str,
        pattern_hits: list[Detection],
        ner_hits: list[RecognizerResult],
        protected: list[tuple[int, int]],
    ) -> DeidResult:
        ner = [Detection(hit.entity_type, hit.start, hit.end, hit.score, from_pattern=False) for hit in ner_hits]
        # Pattern hits would win their overlaps anyway; cut out now, a phone's digits do not make "Tel" an address.
        ner = cut_out(ner, [*protected, *((hit.start, hit.end) for hit in pattern_hits)])
        # Addresses are told from other places before trimming, which would take a house number off the edge.
        ner = label_places(text, refine_ner_spans(text, label_addresses(text, ner)))
        resolved = resolve_overlaps(text, [*pattern_hits, *ner])
        if not resolved:
            return DeidResult(text=text, entities=(), subjects=())
        anonymized = self._anonymizer.anonymize(
            text=text,
            analyzer_results=[AnonymizerInput(d.entity_type, d.start, d.end, d.score) for d in resolved],
            operators=self._operators,
            # Spans are already resolved; Presidio's whitespace merge would join two phone numbers
            # separated by a space into one value with a meaningless pseudonym.
            merge_entities_with_spaces=False,
        )
        subjects = sorted(
            {
                pseudonym(text[d.start : d.end], d.entity_type, self._key)
                for d in resolved
                if d.entity_type in IDENTIFIER_TYPES and not d.partial
            }
        )
        return DeidResult(
            text=anonymized.text,
            entities=tuple(Entity(d.entity_type, d.start, d.end, d.score) for d in resolved),
            subjects=tuple(subjects),
        )
