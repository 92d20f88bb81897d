"""Hostile and malformed input: registered orders, nested dims, counts, limits, CLI failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import chainorder as co
from chainorder import cli
from chainorder.algebra.costs import (
    flops,
    input_first_cost,
    loss_first_cost,
    matmul_cost,
    steps_cost,
)
from chainorder.algebra.gjc import GJC_MAX_FACTORS, Factor, check_gjc_size, optimize_gjc
from chainorder.validation import parse_bytes


@pytest.fixture
def scratch_order():
    """Orders a test registers are gone afterwards: both registry tables are restored."""
    from chainorder.algebra import orders

    names, aliases = dict(orders.ORDERS), dict(orders._ALIASES)
    yield
    orders.ORDERS.clear()
    orders.ORDERS.update(names)
    orders._ALIASES.clear()
    orders._ALIASES.update(aliases)


# ----------------------------------------------------------------------------- registered orders


def test_a_registered_order_that_uses_a_matrix_twice_is_refused(scratch_order):
    co.register_order("twice", lambda d: (np.array([[0, 1, 2], [0, 1, 3]]), 0))
    eye = np.eye(2)
    with pytest.raises(ValueError, match="order 'twice' returned steps that are not a bracketing"):
        co.multiply([2 * eye, 3 * eye, 5 * eye], "twice")
    with pytest.raises(ValueError, match="order 'twice'"):
        co.plan([2, 3, 4, 5], "twice")


@pytest.mark.parametrize("steps", [
    np.array([[0, 1, 2]]),                       # too few steps: one matrix left out
    np.array([[0, 1, 2], [0, 2, 3], [0, 1, 3]]),  # too many
    np.array([[0, 1, 4], [0, 2, 3]]),            # past the chain's end
    np.array([[1, 0, 2], [0, 2, 3]]),            # i > k
    np.array([[0.0, 1.0, 2.0], [0.0, 2.0, 3.0]]),  # floats
])
def test_every_malformed_bracketing_is_refused_naming_the_order(scratch_order, steps):
    co.register_order("hostile", lambda d: (steps, 1))
    with pytest.raises(ValueError, match="order 'hostile'"):
        co.plan([2, 3, 4, 5], "hostile")


def test_a_registered_orders_cost_is_recomputed_not_trusted(scratch_order):
    co.register_order("liar", lambda d: (np.array([[1, 2, 3], [0, 1, 3]]), 0))
    with pytest.warns(UserWarning, match="order 'liar' claimed cost 0; its steps cost 90"):
        p = co.plan([2, 3, 4, 5], "liar")
    assert p.cost == 3 * 4 * 5 + 2 * 3 * 5
    assert p.parenthesization == "(A1(A2A3))"
    eye = np.eye(2)
    with pytest.warns(UserWarning):
        np.testing.assert_allclose(co.multiply([2 * eye, 3 * eye, 5 * eye], "liar"), 30 * eye)


def test_an_honest_registered_order_passes_without_warning(scratch_order):
    co.register_order("honest", lambda d: (np.array([[1, 2, 3], [0, 1, 3]]),
                                           d[1] * d[2] * d[3] + d[0] * d[1] * d[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert co.plan([2, 3, 4, 5], "honest").cost == 90


def test_a_registered_order_must_return_steps_and_cost(scratch_order):
    co.register_order("nothing", lambda d: 5)
    with pytest.raises(TypeError, match="order 'nothing': its strategy must return"):
        co.plan([2, 3, 4], "nothing")


def test_a_registered_order_returning_a_plan_of_other_dims_is_refused(scratch_order):
    co.register_order("other", lambda d: co.plan([2, 3, 4], "loss_first"))
    with pytest.raises(ValueError, match=r"order 'other' returned a plan of dims \[2, 3, 4\]"):
        co.plan([2, 3, 4, 5], "other")


# ----------------------------------------------------------------------------- dims and counts


@pytest.mark.parametrize("dims", [[[30, 35, 15]], [(30, 35), (35, 15)]])
def test_nested_lists_of_dims_are_refused(dims):
    with pytest.raises(TypeError, match="pass dims flat"):
        co.optimize(dims)
    with pytest.raises(TypeError, match="pass dims flat"):
        co.plan(dims, "loss_first")


@pytest.mark.parametrize(("args", "error", "match"), [
    ((-1, 2, 3), ValueError, "p must be >= 0, got -1"),
    ((2, "3", 4), TypeError, "q must be an integer >= 0, got '3'"),
    ((2, 3, 4.0), TypeError, "r must be an integer >= 0, got 4.0"),
    ((True, 3, 4), TypeError, "p must be an integer"),
])
def test_matmul_cost_refuses_what_is_not_a_dim(args, error, match):
    with pytest.raises(error, match=match):
        matmul_cost(*args)


def test_counts_accept_numpy_ints_and_stay_exact():
    assert matmul_cost(np.int64(2**40), 2**40, 2**40) == 2**120
    assert flops(np.int32(7)) == 14


@pytest.mark.parametrize(("value", "error"), [("3", TypeError), (-2, ValueError),
                                              (1.5, TypeError), (None, TypeError)])
def test_flops_refuses_what_is_not_a_count(value, error):
    with pytest.raises(error, match="multiplications must be"):
        flops(value)


@pytest.mark.parametrize("fn", [loss_first_cost, input_first_cost])
@pytest.mark.parametrize("dims", ["3", [1.5, 2], [0, 2], [True, 2], [5]])
def test_fixed_order_costs_validate_dims(fn, dims):
    with pytest.raises((TypeError, ValueError), match="dims"):
        fn(dims)


@pytest.mark.parametrize(("steps", "match"), [
    ([(0, 1, 5)], r"steps\[0\] is \(0, 1, 5\); expected 0 <= i < k < j <= 3"),
    ([(0, 1)], r"steps\[0\] must be three integers"),
    ([(0, 1.0, 2)], r"steps\[0\] must be three integers"),
])
def test_steps_cost_validates_steps(steps, match):
    with pytest.raises((TypeError, ValueError), match=match):
        steps_cost([10, 100, 5, 50], steps)


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400"])
def test_sizes_must_be_finite(text):
    with pytest.raises(ValueError, match="must be a finite size"):
        parse_bytes(text, "--max-memory")


def test_a_huge_integer_size_is_exact():
    assert parse_bytes(10**30) == 10**30


def test_max_memory_inf_is_one_line_from_the_cli(capsys):
    assert cli.main(["article", "--x", "10", "--z1", "5", "--z3", "2",
                     "--max-memory", "inf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-memory must be a finite size" in err


# ----------------------------------------------------------------------------- limits


def _chain(q: int) -> list[Factor]:
    return [Factor.from_edges(5, 5, 10) for _ in range(q)]


def test_optimize_gjc_refuses_past_its_limit_naming_the_estimate(monkeypatch):
    import chainorder.algebra.gjc as gjc

    def no_tables(*a, **k):  # the refusal must come before any table is allocated
        raise AssertionError("the DP started")

    monkeypatch.setattr(gjc, "_fill_numpy", no_tables)
    monkeypatch.setattr(gjc, "_fill", no_tables)
    with pytest.raises(ValueError, match=r"10,000 factors is longer than max_factors=1,000: "
                                         r"the exact DP would take about .* h and .* GB"):
        optimize_gjc(_chain(10_000))
    with pytest.raises(ValueError, match="pass max_factors=1001"):
        optimize_gjc(_chain(GJC_MAX_FACTORS + 1))


def test_the_gjc_limit_can_be_raised():
    check_gjc_size(GJC_MAX_FACTORS)
    check_gjc_size(5000, max_factors=5000)
    s = optimize_gjc(_chain(3), max_factors=3)
    assert s.q == 3
    with pytest.raises(ValueError, match="longer than max_factors=2"):
        optimize_gjc(_chain(3), max_factors=2)
    with pytest.raises(TypeError, match="max_factors must be an integer"):
        optimize_gjc(_chain(3), max_factors="many")


def test_chainorder_gjc_refuses_a_long_chain_in_one_line(tmp_path, capsys):
    path = tmp_path / "long.chain"
    path.write_text("10000\n" + "5 5 10\n" * 10_000)
    assert cli.main(["gjc", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-factors 10000" in err


def test_chainorder_gjc_on_a_fifo_fails_instead_of_waiting(tmp_path):
    fifo = tmp_path / "chain"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "chainorder", "gjc", str(fifo)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_deep_networks_are_labelled_in_order():
    rng = np.random.default_rng(0)
    layers = []
    for _ in range(2000):
        layers += [co.Affine(rng.standard_normal((2, 2)), np.zeros(2)), co.Activation("tanh")]
    net = co.Network(layers, co.MSELoss())
    labels = net.param_labels
    assert labels[(0, "W")] == "W1" and labels[(2 * 1999, "b")] == "b2000"
    assert len(labels) == 4000
    with pytest.raises(ValueError, match="layer must be the index of a layer with parameters"):
        net.param_label(1, "W")


# ----------------------------------------------------------------------------- CLI failures


def _fails_with(monkeypatch, exc: BaseException):
    def command(args):
        raise exc

    monkeypatch.setattr(cli, "_cmd_orders", command)


@pytest.mark.parametrize("exc", [
    PermissionError(13, "Permission denied", "/root/x"),
    IsADirectoryError(21, "Is a directory", "out"),
    OSError(16, "Device or resource busy", ".", None, ".."),
    OSError("no errno"),
])
def test_os_errors_are_one_line_and_status_2(monkeypatch, capsys, exc):
    _fails_with(monkeypatch, exc)
    assert cli.main(["orders"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainorder orders: error: ")
    assert exc.strerror is None or exc.strerror in err


def test_sigterm_ends_a_command_with_143_after_cleanup(monkeypatch, capsys):
    cleaned = []

    def command(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at the next bytecode
            return 0
        finally:
            cleaned.append(True)

    monkeypatch.setattr(cli, "_cmd_orders", command)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a shell starts a command
    try:
        assert cli.main(["orders"]) == 143
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert cleaned == [True]
    assert capsys.readouterr().err == "chainorder orders: terminated\n"


def test_a_caller_that_ignores_sigterm_keeps_it_ignored(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "_cmd_orders",
                        lambda args: seen.append(signal.getsignal(signal.SIGTERM)) or 0)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert cli.main(["orders"]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIG_IGN]


def test_ctrl_c_is_130(monkeypatch, capsys):
    _fails_with(monkeypatch, KeyboardInterrupt())
    assert cli.main(["orders"]) == 130
    assert capsys.readouterr().err == "chainorder orders: interrupted\n"


# ----------------------------------------------------------------------------- shipped chains


def test_shipped_chains_are_named_from_anywhere(tmp_path, monkeypatch, capsys):
    from chainorder.algebra.gjc_format import read_chain, shipped_chains

    monkeypatch.chdir(tmp_path)  # no chain file of that name here: the shipped one is read
    assert "problem_dense50" in shipped_chains()
    assert len(read_chain("problem_dense50")) == 50
    assert cli.main(["gjc", "problem_dense10", "--json"]) == 0
    assert '"q": 10' in capsys.readouterr().out


def test_a_file_of_a_shipped_name_is_read_first(tmp_path, monkeypatch):
    from chainorder.algebra.gjc_format import read_chain

    monkeypatch.chdir(tmp_path)
    (tmp_path / "problem_dense10").write_text("1\n3 2 7\n")
    assert len(read_chain("problem_dense10")) == 1


def test_an_unknown_chain_lists_the_shipped_ones(tmp_path, monkeypatch):
    from chainorder.algebra.gjc_format import read_chain

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="no chain file 'problem_dense7' .*problem_dense10"):
        read_chain("problem_dense7")


def test_a_worker_killed_from_outside_is_one_line(monkeypatch, capsys):
    from concurrent.futures.process import BrokenProcessPool

    _fails_with(monkeypatch, BrokenProcessPool("A process in the process pool was terminated"))
    assert cli.main(["orders"]) == 2
    assert capsys.readouterr().err.startswith("chainorder orders: error: a worker process died")
