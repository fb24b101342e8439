"""Extractive answers (engine.answer): every cited id was retrieved, every quoted sentence stands
in its cited passage, the same in process and over HTTP; what needs an LLM is refused (400)."""

from __future__ import annotations

import pytest

import bitsift
from bitsift.cli.demo import DEMO_QUERIES, cranfield_queries
from bitsift.core import errors
from bitsift.engine.answer import ANSWER_SENTENCES, EXTRACTIVE_MODEL


def _check(client, query: str, answer: dict) -> None:
    retrieved = {s["id"] for s in answer["sources"]}
    assert answer["model"] == EXTRACTIVE_MODEL and answer["query"] == query and answer["structured_data"] is None
    assert answer["used_context"] and 1 <= len(answer["citations"]) <= ANSWER_SENTENCES
    texts = {item["id"]: item["text"] for item in client.get("cranfield", [c["id"] for c in answer["citations"]])}
    for c in answer["citations"]:
        assert c["id"] in retrieved
        assert c["sentence"] in texts[c["id"]]
        assert f"{c['sentence']} [{c['id']}]" in answer["answer"]
    scores = [c["score"] for c in answer["citations"]]
    assert scores == sorted(scores, reverse=True)


def test_answers_to_the_demo_queries_quote_only_what_was_retrieved(cranfield, live_server):
    queries = cranfield_queries()
    server = live_server(data_dir=cranfield)
    with bitsift.Client(path=cranfield) as local, bitsift.Client(url=server.url) as remote:
        for qid in DEMO_QUERIES:
            here = local.answer("cranfield", queries[qid])
            _check(local, queries[qid], here)
            assert len(here["sources"]) == 5  # the hosted default top_k
            assert remote.answer("cranfield", queries[qid]) == here  # the same over HTTP
        framed = local.answer("cranfield", queries["1"], top_k=2, header_prompt="Notes:", footer_prompt="End.")
        assert framed["answer"].startswith("Notes:\n\n") and framed["answer"].endswith("\n\nEnd.")
        assert len(framed["sources"]) == 2
        nothing = local.answer("cranfield", queries["1"], threshold=0.999)
        assert not nothing["used_context"] and nothing["citations"] == [] and "No passage" in nothing["answer"]


def test_what_needs_an_llm_or_is_malformed_is_refused(cranfield):
    with bitsift.Client(path=cranfield) as client:
        with pytest.raises(errors.InvalidInput, match="needs an LLM"):
            client.answer("", "what is lift?")
        with pytest.raises(errors.InvalidInput, match="needs an LLM"):
            client.answer("cranfield", "what is lift?", structured_response={"type": "object"})
        for bad in (dict(query=" "), dict(temperature=3), dict(top_k=0), dict(chat_history=[{"role": 1}]),
                    dict(threshold=2)):
            with pytest.raises(errors.InvalidInput):
                client.answer("cranfield", **{"query": "what is lift?", **bad})
        with pytest.raises(errors.NamespaceNotFound):
            client.answer("ghost", "what is lift?")
