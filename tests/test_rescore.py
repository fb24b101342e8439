"""Two-stage search: float re-scoring of binary candidates, on the ITS scale."""

from __future__ import annotations

import numpy as np
import pytest

import bitsift
from bitsift.core import binarize, kernel, rescore, scoring

DIMS = 32


def test_correlation_is_pearson(rng):
    q = rng.standard_normal(DIMS)
    v = rng.standard_normal((5, DIMS))
    want = [np.corrcoef(q, row)[0, 1] for row in v]
    np.testing.assert_allclose(rescore.correlation(q, v), want, atol=1e-12)
    assert rescore.correlation(q, np.ones((1, DIMS)))[0] == 0.0  # constant row: no information


@pytest.mark.parametrize("dim", [1, 3, 32, 384, 385])
def test_native_correlation_matches_the_formula_and_ignores_other_rows(rng, dim, tmp_path):
    """The engine's native rho equals rescore.correlation on the float16 rows, reads them
    straight from a memory map, and gives every row the same value whichever rows come with it."""
    stored = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float16, shape=(3000, dim))
    stored[:] = rng.standard_normal((3000, dim)).astype(np.float16)
    stored[7] = 0.25  # constant row -> 0
    stored[8, 0] = np.float16(6e-8)  # a subnormal half
    rows = rng.permutation(3000)[:2900]  # at D >= 384 enough work to split over threads
    rows[:2] = [7, 8]
    q = rng.standard_normal(dim).astype(np.float32)
    got = kernel.correlation_f16(stored, rows, q)
    want = rescore.correlation(q, stored[rows].astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[0] == 0.0 and (np.abs(got) <= 1.0).all()
    np.testing.assert_array_equal(kernel.correlation_f16(stored, rows[50:53], q), got[50:53])
    np.testing.assert_array_equal(kernel.correlation_f16(stored, rows[::-1], q), got[::-1])
    with pytest.raises(IndexError):
        kernel.correlation_f16(stored, np.array([3000]), q)
    with pytest.raises(ValueError):
        kernel.correlation_f16(stored, rows, np.zeros(dim + 1, np.float32))


def test_its_from_correlation_endpoints_and_monotonicity():
    rho = np.linspace(-1, 1, 201)
    s = rescore.its_from_correlation(rho)
    assert s[-1] == 1.0 and s[100] == 0.0 and (np.diff(s) >= 0).all()
    # h = arccos(rho)/pi = 0.3  <=>  rho = cos(0.3 pi)
    assert rescore.its_from_correlation(np.array([np.cos(0.3 * np.pi)]))[0] == pytest.approx(0.56, abs=0.005)


def test_sheppard_formula_predicts_mib_disagreement(rng):
    """The expected fraction of differing MIB bits at correlation rho is arccos(rho)/pi."""
    dims = 8192
    for rho in (0.2, 0.5, 0.8):
        x = rng.standard_normal(dims)
        y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(dims)
        codes = binarize.MIB().encode(np.stack([x, y]).astype(np.float32))
        h = kernel.reference_hamming(codes[:1], codes[1:])[0, 0] / dims
        assert h == pytest.approx(np.arccos(rho) / np.pi, abs=0.015)


@pytest.fixture
def populated(tmp_path, rng):
    x = rng.standard_normal((300, DIMS)).astype(np.float32)
    with bitsift.Client(path=tmp_path / "d") as c:
        c.create_namespace("ns", dimension=DIMS)
        c.upload_vectors("ns", [{"id": f"i{i}", "vector": v, "metadata": {"odd": i % 2}} for i, v in enumerate(x)])
        yield c, x


def test_full_oversample_equals_exact_float_ranking(populated, rng):
    client, x = populated
    stored = x.astype(np.float16).astype(np.float32)
    for q in rng.standard_normal((5, DIMS)).astype(np.float32):
        res = client.search("ns", q.tolist(), top_k=20, mode="rescore", oversample=15)["results"]
        rho = rescore.correlation(q, stored)
        want = np.argsort(-rho, kind="stable")[:20]
        got = [int(r["id"][1:]) for r in res]
        assert sorted(got, key=lambda i: -rho[i]) == want.tolist()
        np.testing.assert_allclose(sorted((r["score"] for r in res), reverse=True),
                                   rescore.its_from_correlation(rho[want]), atol=1e-12)


def test_rescore_keeps_labels_threshold_and_filters(populated, rng):
    client, x = populated
    q = (x[3] + 0.3 * rng.standard_normal(DIMS)).astype(np.float32).tolist()
    res = client.search("ns", q, top_k=10, mode="rescore", threshold=0.3, filter={"odd": 1})
    assert res["mode"] == "rescore" and res["results"][0]["id"] == "i3"
    for r in res["results"]:
        assert r["score"] >= 0.3 and r["label"] == scoring.label(r["score"]) and r["metadata"]["odd"] == 1
    small = client.search("ns", q, top_k=3, mode="rescore", oversample=1)["results"]
    assert len(small) == 3


def test_bad_mode_and_oversample(populated):
    client, _ = populated
    with pytest.raises(bitsift.InvalidInput, match="mode"):
        client.search("ns", [0.1] * DIMS, mode="fast")
    with pytest.raises(bitsift.InvalidInput, match="oversample"):
        client.search("ns", [0.1] * DIMS, mode="rescore", oversample=0)
