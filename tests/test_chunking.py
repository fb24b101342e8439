"""Sentence-aware chunking."""

from __future__ import annotations

import pytest

from bitsift.core.errors import InvalidInput
from bitsift.text.chunking import chunk_text

TEXT = " ".join(f"Sentence {i} is about lift and drag on a swept wing." for i in range(40))


def test_short_text_is_one_chunk():
    assert chunk_text("One sentence. Two sentences.", 100, 20) == ["One sentence. Two sentences."]
    assert chunk_text("   ", 100, 20) == []


def test_chunks_are_whole_sentences_within_size_and_overlap():
    chunks = chunk_text(TEXT, 200, 60)
    assert len(chunks) > 5 and all(len(c) <= 200 for c in chunks)
    assert all(c.startswith("Sentence") and c.endswith("wing.") for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert b.split(". ")[0] + "." in a  # the next chunk repeats the previous chunk's last sentence
    covered = " ".join(chunks)
    assert all(f"Sentence {i} " in covered for i in range(40))


def test_overlong_sentence_is_split_at_spaces_then_hard():
    words = chunk_text("word " * 100, 60, 0)
    assert all(len(c) <= 60 for c in words) and "".join(words).replace(" ", "") == "word" * 100
    assert chunk_text("x" * 130, 60, 0) == ["x" * 60, "x" * 60, "x" * 10]


@pytest.mark.parametrize("size, overlap", [(10, 0), (100, 100), (100, -1), ("100", 0)])
def test_bad_parameters(size, overlap):
    with pytest.raises(InvalidInput):
        chunk_text(TEXT, size, overlap)


def test_overlap_never_yields_a_chunk_contained_in_the_previous_one():
    text = "Short one. " + "A" * 78 + ". " + "B" * 78 + "."
    chunks = chunk_text(text, 100, 90)
    assert all(b not in a for a, b in zip(chunks, chunks[1:]))
    with pytest.raises(InvalidInput, match="string"):
        chunk_text(None, 100, 10)
