"""Sentence-aware chunking of long texts (pure, deterministic).

Chunks end at sentence boundaries where possible, so an embedded chunk is a run of
whole sentences; consecutive chunks repeat about ``overlap`` characters of whole
sentences, so a passage cut at a boundary is still found whole in one of them.
"""

from __future__ import annotations

import re

from bitsift.core.errors import InvalidInput

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` as they stand in it (stripped, never rewritten), so each is a
    substring of the text: an extractive answer quotes its passage exactly."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _pieces(text: str, size: int) -> list[str]:
    """Sentences, with any sentence longer than ``size`` split at whitespace (or hard-split)."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size + 1)
            cut = cut if cut > 0 else size
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters sharing ~``overlap`` characters."""
    if not isinstance(size, int) or size < 50:
        raise InvalidInput(f"chunk size must be an integer of at least 50 characters, got {size!r}")
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, got {type(text).__name__}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInput(f"chunk overlap must be from 0 to size - 1 ({size - 1}), got {overlap!r}")
    pieces = _pieces(text, size)
    chunks: list[str] = []
    start = 0
    while start < len(pieces):
        end, length = start, 0
        while end < len(pieces) and length + len(pieces[end]) + (1 if end > start else 0) <= size:
            length += len(pieces[end]) + (1 if end > start else 0)
            end += 1
        chunks.append(" ".join(pieces[start:end]))
        if end >= len(pieces):
            break
        # Step back over whole sentences worth at most `overlap` characters, always advancing.
        back, carried = end, 0
        # The carried sentences plus the next new one must fit, or the chunk would add nothing.
        while back - 1 > start:
            grown = carried + len(pieces[back - 1]) + 1
            if grown > overlap or grown + len(pieces[end]) > size:
                break
            back -= 1
            carried = grown
        start = back
    return chunks
