"""What the encoder reads: one preparation for documents and queries alike, so that both land in one space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.deid.pseudonym_format import generalise_pseudonyms
from models.embedding.encoder import Embedder


def prepare_for_embedding(text: str) -> str:
    """The text as the encoder should read it, whether it is a stored chunk or a search query.

    Pseudonyms are read as their type (``<PERSON_3c976b0a75e2d418>`` → ``<PERSON>``): the digest means nothing to
    the model and costs a dozen word pieces. A query must be prepared exactly as the chunks were, or the two
    are compared in different spaces; exact pseudonyms are matched by the store instead (models.store.search).
    """
    return generalise_pseudonyms(text)


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Vectors for texts, each prepared for embedding first; the only way Sluice should call an embedder."""
    if isinstance(texts, str):
        raise TypeError("embed_texts() takes a sequence of texts, not a single string")
    return embedder.embed([prepare_for_embedding(text) for text in texts])
