"""Sentence embeddings: converting the encoder to CTranslate2 int8 and running it."""
