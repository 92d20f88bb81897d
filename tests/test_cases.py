"""The case table: append-only ids, deterministic builds, the dims each kind promises."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import chainorder as co
from chainorder.lab.cases import CASES, KINDS, Case, get_case, random_dims, select_cases
from chainorder.networks.article import article_dims
from chainorder.networks.network import article_network

#: The table as first published. Cases may be appended, never renamed, reordered or removed.
PUBLISHED = [
    "article-x10", "article-x100", "article-x1000", "article-x10000", "article-x100000",
    "article-x1000-z1_30-z3_3", "article-x1000-z1_300-z3_30", "mlp-d2-w64-x256",
    "mlp-d4-w64-x256", "mlp-d8-w64-x256", "mlp-d16-w64-x256", "mlp-d32-w64-x256",
    "funnel-1024-256-64-16-4", "decoder-8-64-512-2048", "scalar-input-1-256-256-16",
    "autoencoder-1024-256-32-256-1024", "rnn-T4-h64-i32", "rnn-T16-h64-i32", "rnn-T64-h64-i32",
    "random-n4-s0", "random-n4-s1", "random-n8-s0", "random-n8-s1", "random-n16-s0",
    "random-n16-s1", "random-n8-s92", "random-n8-s0-free", "batch-B1-x1000", "batch-B8-x1000",
    "batch-B64-x1000", "batch-B512-x1000", "article-x300000", "article-x1000000",
    "article-x10000-z1_30-z3_3", "article-x10000-z1_300-z3_30", "article-x10000-z1_1000-z3_10",
    "article-x100-z1_10-z3_100", "mlp-d2-w256-x1024", "mlp-d4-w256-x1024", "mlp-d8-w256-x1024",
    "mlp-d16-w256-x1024", "mlp-d32-w256-x1024", "funnel-4096-1024-256-64-16-4",
    "decoder-16-256-2048-8192", "scalar-input-1-1024-1024-64",
    "autoencoder-4096-1024-64-1024-4096", "rnn-T16-h256-i64", "rnn-T64-h256-i64",
    "rnn-T256-h256-i64", "rnn-T1024-h64-i32", "random-n32-s0", "random-n32-s1", "random-n64-s0",
    "random-n64-s1", "batch-B1-x10000", "batch-B16-x10000", "batch-B128-x10000",
    "batch-B1024-x10000",
]
QUICK = [c for c in CASES if c.quick]
SMALL = [c for c in QUICK if c.id not in ("article-x100000", "article-x10000")]


def test_table_is_append_only():
    assert [c.id for c in CASES[: len(PUBLISHED)]] == PUBLISHED


def test_ids_unique_and_every_field_set():
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        assert c.kind in KINDS and c.description and isinstance(c.quick, bool)


def test_the_grid_covers_every_kind_and_the_brief():
    assert {c.kind for c in QUICK} == set(KINDS)
    xs = {c.params["x"] for c in QUICK if c.kind == "article"}
    assert {10, 10**5} <= xs
    depths = {len(c.params["widths"]) - 1 for c in QUICK if c.kind == "deep_mlp"}
    assert {2, 32} <= depths
    assert max(c.params["x"] for c in CASES if c.kind == "article") == 10**6


def test_case_is_hashable_for_caching():
    calls = []

    @cache
    def built(case: Case) -> tuple[int, ...]:
        calls.append(case.id)
        return case.build().dims

    case = get_case("rnn-T4-h64-i32")
    assert built(case) == built(get_case("rnn-T4-h64-i32"))
    assert calls == ["rnn-T4-h64-i32"]


@pytest.mark.parametrize("case", SMALL, ids=[c.id for c in SMALL])
def test_build_is_deterministic(case):
    a, b = case.build(), case.build()
    assert a.dims == b.dims
    for m1, m2 in zip(a.matrices, b.matrices, strict=True):
        assert np.array_equal(m1, m2)


def test_dims_of_each_kind():
    case = get_case("article-x1000-z1_30-z3_3")
    assert case.build().dims == article_dims(1000, 30, 3)
    assert get_case("batch-B64-x1000").build().dims == (64, 10, 100, 100, 1000)
    assert len(get_case("rnn-T16-h64-i32").build()) == 17
    p = get_case("random-n8-s92").params
    assert list(get_case("random-n8-s92").build().dims) == random_dims(8, p["high"], 92)
    deep = get_case("mlp-d4-w64-x256").build()
    assert deep.dims == (1, 10, 64, 64, 64, 64, 64, 64, 256)


def test_random_dims_seeded_and_scalar_loss():
    assert random_dims(4, 1024, seed=79) == [1, 2, 601, 1, 2]
    free = random_dims(8, 512, seed=0, scalar_loss=False)
    assert free == random_dims(8, 512, seed=0, scalar_loss=False) and free[0] > 1


def test_minibatch_rows_are_per_example_input_gradients():
    """The B x |x| product holds each example's dl/dx: exact, as the network is linear."""
    case = get_case("batch-B8-x1000")
    product = case.build().multiply("optimal")
    net = article_network(1000, 100, 10, activation="identity", seed=0)
    rng = np.random.default_rng([0, 1])
    X, Y = rng.standard_normal((8, 1000)), 0.5 * rng.standard_normal((8, 10))
    for b in (0, 3, 7):
        expected = net.input_chain(X[b], Y[b]).multiply("loss_first")
        np.testing.assert_allclose(product[b], expected[0], rtol=1e-10, atol=1e-14)


def test_select_and_get():
    assert [c.id for c in select_cases(quick=True, kinds=["recurrent"])] == [
        "rnn-T4-h64-i32", "rnn-T16-h64-i32", "rnn-T64-h64-i32"]
    assert len(select_cases()) == len(CASES)
    assert all(c.id.startswith("batch-") for c in select_cases(patterns=["batch-*"]))
    with pytest.raises(ValueError, match="unknown kind"):
        select_cases(kinds=["nope"])
    with pytest.raises(KeyError, match="did you mean 'article-x100'"):
        get_case("article-x100O")
    with pytest.raises(ValueError, match="unknown kind"):
        Case("x", "nope", {})


def test_quick_set_is_cheap():
    """Quick cases stay small: the benchmarks run all of them in every order by default."""
    total = sum(co.plan(c.build().dims, o).cost for c in SMALL for o in
                ("loss_first", "input_first", "optimal"))
    assert total < 2 * 10**9
