"""jacobian(f) as a JAX transform: jacfwd's result for one function, under jit and vmap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

import chainorder as co  # noqa: E402
from chainorder.ad import jax_engine  # noqa: E402
from chainorder.ad.jax_engine import DEFAULT_MODEL  # noqa: E402


def assert_same(got, want, rtol: float) -> None:
    """Same tree, shapes and dtypes as ``want``, values to ``rtol`` of its largest entry."""
    g, gt = jax.tree_util.tree_flatten(got)
    w, wt = jax.tree_util.tree_flatten(want)
    assert gt == wt
    for a, b in zip(g, w, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        scale = max(1.0, float(np.abs(np.asarray(b)).max(initial=0)))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=rtol * scale)


def _weights(seed: int, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) / np.sqrt(s[-1]) for s in shapes]


W1, W2, W3 = _weights(0, (12, 10), (2, 12), (12, 2))


def bottleneck(x):
    return jnp.tanh(W3 @ jnp.tanh(W2 @ jnp.tanh(W1 @ x)))


def tree_function(p, x):
    h = jnp.tanh(W1 @ (p["scale"] * x) + p["shift"])
    return {"y": W2 @ h, "pair": (jnp.sum(h**2), h[:3])}


@jax.custom_vjp
def _clipped_sin(x):
    return jnp.sin(x)


_clipped_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (jnp.cos(x) * g,))


def with_custom_vjp(x):
    return W2 @ _clipped_sin(W1 @ x)


@jax.custom_jvp
def _softplus(x):
    return jnp.logaddexp(x, 0.0)


_softplus.defjvp(lambda p, t: (_softplus(p[0]), jax.nn.sigmoid(p[0]) * t[0]))


def control_flow(x):
    y = W1 @ x
    y = jax.lax.fori_loop(0, 3, lambda i, y: jnp.tanh(y), y)
    y = jax.lax.cond(y[0] > 0, jnp.sin, jnp.cos, y)
    y = jax.jit(jnp.sin)(_softplus(y))
    y = jax.lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] * 0.5), (0, y))[1]
    return W2 @ y


def residual(x):
    for _ in range(2):
        x = x + jnp.tanh(W1.T @ jnp.tanh(W1 @ x))
    return x


def loss(x):
    return jnp.mean((W2 @ jnp.tanh(W1 @ x)) ** 2)


FUNCTIONS = {"bottleneck": bottleneck, "custom_vjp": with_custom_vjp,
             "control_flow": control_flow, "residual": residual, "loss": loss}


def _peer(f):
    return jax.jacrev if f is with_custom_vjp else jax.jacfwd


#: every function in float64; in float32 all but the slow-to-compile loops
GRID = [(name, x64) for x64 in (False, True) for name in FUNCTIONS
        if x64 or name != "control_flow"]


@pytest.mark.parametrize(("name", "x64"), GRID,
                         ids=[f"{n}-{'float64' if b else 'float32'}" for n, b in GRID])
def test_one_function_equals_the_peer_under_jit_and_vmap(name: str, x64: bool) -> None:
    f = FUNCTIONS[name]
    with jax.enable_x64(x64):
        x = jnp.asarray(np.linspace(-1, 1, 10))
        X = jnp.stack([x, 0.5 * x])
        jf = co.jacobian(f, cost=DEFAULT_MODEL)
        tol = 1e-10 if x64 else 2e-5
        want = _peer(f)(f)(x)
        assert want.dtype == (jnp.float64 if x64 else jnp.float32)
        assert_same(jax.jit(jf)(x), want, tol)
        assert_same(jax.vmap(jf)(X), jax.vmap(_peer(f)(f))(X), tol)
        assert len(jf.plans) == 1  # made once, while tracing


def test_a_bottleneck_is_cut_and_run_by_a_mixed_schedule() -> None:
    plan = co.plan_jacobian(bottleneck, jnp.ones(10), cost="multiply-adds")
    assert plan.program.widths == [10, 12, 12, 2, 2, 12, 12]
    assert [f.kind for f in plan.factors] == ["dense", "diagonal"] * 3
    assert plan.mode == "optimal"
    assert "cut automatically into 6 factors" in str(co.recommend(bottleneck, jnp.ones(10)))


def test_opaque_factors_and_the_modes_they_allow() -> None:
    plan = co.plan_jacobian(control_flow, jnp.ones(10))
    labels = [f.label for f in plan.factors]
    assert "scan(length=3)" in labels and "cond" in labels and "while(2 trips)" in labels
    assert any(lab.startswith("custom_jvp") for lab in labels)
    assert [f.modes for f in plan.factors if f.label.startswith("while")] == [("tangent",)]
    vjp = co.plan_jacobian(with_custom_vjp, jnp.ones(10))
    assert [f.modes for f in vjp.factors] == [("tangent", "adjoint"), ("adjoint",),
                                              ("tangent", "adjoint")]
    assert "tangent" not in vjp.schedules and vjp.mode != "tangent"
    with pytest.raises(ValueError, match="mode 'tangent' is not possible here"):
        co.plan_jacobian(with_custom_vjp, jnp.ones(10), mode="tangent")


@pytest.mark.parametrize("argnums", [1, (1, 0)])
def test_pytrees_in_and_out_and_argnums(argnums) -> None:
    p = {"scale": jnp.linspace(0.5, 1.5, 10), "shift": jnp.zeros(12)}
    x = jnp.linspace(-1, 1, 10)
    want = jax.jacfwd(tree_function, argnums)(p, x)
    assert_same(co.jacobian(tree_function, argnums)(p, x), want, 2e-5)
    assert_same(jax.jit(co.jacobian(tree_function, argnums))(p, x), want, 2e-5)


def test_has_aux_static_arguments_and_closures_over_traced_values() -> None:
    def f(x, n):
        for _ in range(n):  # n is a Python int, as jax.jacfwd passes it
            x = jnp.sin(W1.T @ (W1 @ x))
        return x, {"norm": jnp.sum(x**2)}

    x = jnp.linspace(-1, 1, 10)
    assert_same(co.jacobian(f, has_aux=True)(x, 2), jax.jacfwd(f, has_aux=True)(x, 2), 2e-5)

    @jax.jit
    def outer(W, x):
        return co.jacobian(lambda v: jnp.tanh(W @ v))(x)

    assert_same(outer(jnp.asarray(W1), x), jax.jacfwd(lambda v: jnp.tanh(W1 @ v))(x), 2e-5)


def test_the_plan_is_cached_per_signature() -> None:
    jf = co.jacobian(bottleneck)
    jf(jnp.ones(10))
    jf(jnp.zeros(10))
    assert len(jf.plans) == 1
    jf(jnp.ones(10, jnp.float16))
    assert len(jf.plans) == 2
    plan = jf.plan(jnp.ones(10))
    assert plan is jf.plan(jnp.zeros(10)) and plan.reusable
    assert repr(jf).startswith("<jacobian of bottleneck, argnums=0, 2 plan(s)>")


def test_a_program_that_cannot_be_cut_runs_the_peer() -> None:
    f = lambda x: jnp.ones(3) * 2.0  # noqa: E731 - no dependence on x
    plan = co.plan_jacobian(f, jnp.ones(4))
    assert plan.program is None and "not cut" in plan.cut
    assert_same(co.jacobian(f)(jnp.ones(4)), jax.jacfwd(f)(jnp.ones(4)), 0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: co.jacobian(bottleneck, argnums=1.0), TypeError, "argnums must be an int"),
        (lambda: co.jacobian(bottleneck, argnums=3)(jnp.ones(10)), ValueError,
         "argnums=3 names argument 3, but f was called with 1"),
        (lambda: co.jacobian(bottleneck)(jnp.arange(10)), TypeError,
         "real floating inputs.*dtype int32"),
        (lambda: co.jacobian(bottleneck, has_aux=True)(jnp.ones(10)), TypeError,
         "has_aux=True needs f to return a pair"),
        (lambda: co.jacobian(bottleneck, memory=0), ValueError, "memory must be None or"),
    ],
)
def test_bad_input_is_refused_by_name(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_the_time_model_predicts_and_round_trips(tmp_path) -> None:
    plan = co.plan_jacobian(bottleneck, jnp.ones(10), cost=DEFAULT_MODEL)
    assert all(s > DEFAULT_MODEL.call_seconds for s in plan.seconds.values())
    path = DEFAULT_MODEL.save(tmp_path / "model.json")
    assert type(DEFAULT_MODEL).load(path) == DEFAULT_MODEL
    fp = jax_engine.fingerprint()
    assert {"jax", "jaxlib", "device_kind", "xla_flags"} <= set(fp)


def test_calibration_fits_non_negative_rates_without_saving() -> None:
    model = jax_engine.calibrate(rounds=1, block_seconds=0.0, save=False, quick=True)
    assert min(model.call_seconds, model.kernel_seconds, model.madd_seconds,
               model.byte_seconds) >= 0
    assert model.errors["programs"] >= 3 and model.fingerprint["jax"] == jax.__version__


def test_large_batches_shard_across_devices_and_equal_one_device() -> None:
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        import chainorder as co
        assert jax.device_count() == 4
        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((3, 64)) / 8, rng.standard_normal((64, 3))
        f = lambda x: jnp.tanh(B @ jnp.tanh(A @ x))
        x = jnp.asarray(rng.standard_normal(64), jnp.float32)
        for mode in ("tangent", "adjoint", "optimal"):
            plan = co.plan_jacobian(f, x, mode=mode)
            got = np.asarray(jax.jit(plan.function())(x))
            text = jax.jit(plan.function()).lower(x).as_text()
            assert "sharding" in text, mode
            np.testing.assert_allclose(got, np.asarray(jax.jacfwd(f)(x)), atol=2e-6)
        print("ok")
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("chain", [False, True])
def test_an_optimum_of_one_sweep_runs_the_peers_own_program(chain: bool) -> None:
    """mode='optimal' whose optimum is one adjoint sweep is jax.jacrev's program, consts and
    all: the same jaxpr, not a schedule over the cut factors."""
    import jax.numpy as jnp

    with jax.enable_x64(True):
        w1, w2 = _weights(3, (40, 30), (1, 40))
        fs = [lambda v: jnp.tanh(w1 @ v), lambda v: w2 @ v]
        whole = lambda v: fs[1](fs[0](v))  # noqa: E731
        x = jnp.linspace(0.1, 0.9, 30)
        plan = co.plan_jacobian(fs if chain else whole, x, mode="optimal",
                                cost="multiply-adds")
        assert plan.schedules["optimal"].ops == plan.schedules["adjoint"].ops
        ours = jax.make_jaxpr(plan.function())(x).jaxpr.eqns
        theirs = jax.make_jaxpr(jax.jacrev(whole))(x).jaxpr.eqns
        assert [e.primitive.name for e in ours] == [e.primitive.name for e in theirs]
        compiled = plan.compile()
        np.testing.assert_allclose(np.asarray(compiled(x)),
                                   np.asarray(jax.jacrev(whole)(x)), rtol=1e-12)
        assert not plan._needs_consts("optimal")
