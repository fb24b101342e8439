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


_SPACES = re.compile(r"(?<=\S)[ \t\f\v\r]+")  # runs of blanks inside a line (indentation is kept)


def _tidy(sentence: str) -> str:
    """One sentence as it stands, its lines kept (markdown lists, headings, table rows) and only
    the blanks inside each line collapsed."""
    lines = [_SPACES.sub(" ", line).rstrip() for line in sentence.strip("\n").split("\n")]
    return "\n".join(line for line in lines if line.strip()).strip(" ")


def _pieces(text: str, size: int) -> list[tuple[str, str, int]]:
    """(sentence, the separator that followed it, its offset in ``text``): a sentence longer
    than ``size`` is split at whitespace (or hard-split). The separator keeps the text's
    structure: a blank line stays a paragraph break, a line break stays one."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = len(text) if match is None else match.start()
        gap = "" if match is None else match.group()
        sep = "\n\n" if gap.count("\n") >= 2 else "\n" if "\n" in gap else " "
        sentence, at = _tidy(text[pos:end]), pos + len(text[pos:end]) - len(text[pos:end].lstrip())
        pos = len(text) if match is None else match.end()
        while len(sentence) > size:
            cut = max(sentence.rfind(" ", 0, size + 1), sentence.rfind("\n", 0, size + 1))
            cut = cut if cut > 0 else size
            out.append((sentence[:cut].strip(), " ", at))
            sentence = sentence[cut:].strip()
            at += cut
        if sentence:
            out.append((sentence, sep, at))
    return out


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters sharing ~``overlap`` characters."""
    return [chunk for chunk, _ in chunk_spans(text, size, overlap)]


def chunk_spans(text: str, size: int = 1000, overlap: int = 200) -> list[tuple[str, int]]:
    """:func:`chunk_text` with the offset in ``text`` where each chunk starts (a PDF chunk's
    page is the page holding that offset)."""
    if not isinstance(size, int) or size < 50:
        raise InvalidInput(f"chunk size must be an integer of at least 50 characters, got {size!r}")
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, got {type(text).__name__}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInput(f"chunk overlap must be from 0 to size - 1 ({size - 1}), got {overlap!r}")
    pieces = _pieces(text, size)
    chunks: list[tuple[str, int]] = []
    start = 0
    while start < len(pieces):
        end, length = start, 0
        while end < len(pieces) and length + len(pieces[end][0]) + (len(pieces[end - 1][1]) if end > start else 0) <= size:
            length += len(pieces[end][0]) + (len(pieces[end - 1][1]) if end > start else 0)
            end += 1
        chunks.append(("".join(p + (sep if i < end - 1 else "") for i, (p, sep, _) in
                               enumerate(pieces[start:end], start)), pieces[start][2]))
        if end >= len(pieces):
            break
        # Step back over whole sentences worth at most `overlap` characters, always advancing.
        back, carried = end, 0
        # The carried sentences plus the next new one must fit, or the chunk would add nothing.
        while back - 1 > start:
            grown = carried + len(pieces[back - 1][0]) + len(pieces[back - 1][1])
            if grown > overlap or grown + len(pieces[end][0]) > size:
                break
            back -= 1
            carried = grown
        start = back
    return chunks
