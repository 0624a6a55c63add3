"""Text generation behind a small typed seam: the TextGenerator protocol and its CTranslate2 implementation."""

from __future__ import annotations

from models.generation.chat_template import ChatTemplate
from models.generation.generator import CT2Generator, Generation, TextGenerator

__all__ = ["CT2Generator", "ChatTemplate", "Generation", "TextGenerator"]
