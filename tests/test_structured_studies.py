"""The dense-vs-structured pages' findings, pinned from the formulas (pages: test_report.py)."""

from __future__ import annotations

from fractions import Fraction

import pandas as pd
import pytest

from chainorder.lab.studies import caching
from chainorder.lab.studies.conventions import CONVENTION_LABEL, convention_label
from chainorder.lab.studies.structured_article import (
    affine_in_x,
    batch_costs,
    batch_crossover_exact,
    bilinear_costs,
    claims_table,
    convention_costs,
    crossovers,
)

DENSE, STRUCTURED = CONVENTION_LABEL["dense"], CONVENTION_LABEL["structured"]
DENSE_, STRUCTURED_ = "dense", "structured"  # tables name the conventions short


def test_convention_labels():
    assert DENSE == "dense (the article's convention)"
    assert STRUCTURED == "structured: diagonal activations, I ⊗ xᵀ weights"
    with pytest.raises(ValueError, match="structure must be one of dense, structured"):
        convention_label("sparse")


def test_costs_counted_equal_the_formulas_in_both_conventions():
    t = convention_costs((1, 10, 1000), 10).set_index(["x", "structure", "order"])
    # |z1| = |z2| = 100, |z3| = 10; dense: lf = 10·100 + 100·100 + 100·|x|,
    # if = 100·100·|x| + 10·100·|x| + 10·|x|; structured: diag(σ') costs 100 from the left
    # (lf = 10·100 + 100 + 100·|x|) and 100·|x| times W1 (if = 100·|x| + 10·100·|x| + 10·|x|)
    expected = {("dense", 1): (11_100, 11_010), ("dense", 10): (12_000, 110_100),
                ("structured", 1): (1_200, 1_110), ("structured", 10): (2_100, 11_100),
                ("dense", 1000): (111_000, 11_010_000),
                ("structured", 1000): (101_100, 1_110_000)}
    for (st, x), (lf, inf) in expected.items():
        assert t.loc[(x, st, "loss_first"), "predicted"] == lf
        assert t.loc[(x, st, "input_first"), "predicted"] == inf
        if x <= 10:
            assert t.loc[(x, st, "loss_first"), "counted"] == lf
            assert t.loc[(x, st, "input_first"), "counted"] == inf
            assert t.loc[(x, st, "loss_first"), "source"] == "counted by multiplying"
        else:
            assert pd.isna(t.loc[(x, st, "loss_first"), "counted"])
            assert t.loc[(x, st, "loss_first"), "source"] == (
                "formula (not multiplied above |x| = 10)")
    assert t.loc[(1, "dense", "optimal"), "predicted"] == 11_010  # input-first wins at |x| = 1


def test_affine_in_x_exact_integers():
    fits = affine_in_x(convention_costs((1, 10, 100), 100)).set_index(["structure", "order"])
    assert fits.loc[("dense", "loss_first"), ["intercept", "slope"]].tolist() == [11_000, 100]
    assert fits.loc[("dense", "input_first"), ["intercept", "slope"]].tolist() == [0, 11_010]
    assert fits.loc[("structured", "loss_first"), ["intercept", "slope"]].tolist() == [1_100, 100]
    assert fits.loc[("structured", "input_first"), ["intercept", "slope"]].tolist() == [0, 1_110]
    assert (fits["on_line"] == "3 of 3").all() and (fits["counted_on_line"] == "3 of 3").all()
    assert fits.loc[("structured", "input_first"), "cost"] == "1,110·|x|"


def test_bilinear_costs_and_crossovers():
    # B rows: dense lf = B(10·100 + 100·100) + 100·B·|x|, if = (100·100 + 10·100)|x| + 10·B·|x|
    assert bilinear_costs("dense", "loss_first") == {"c0": 0, "cB": 11_000, "cx": 0, "cBx": 100}
    assert bilinear_costs("dense", "input_first") == {"c0": 0, "cB": 0, "cx": 11_000, "cBx": 10}
    assert bilinear_costs("structured", "loss_first") == {"c0": 0, "cB": 1_100, "cx": 0,
                                                          "cBx": 100}
    assert bilinear_costs("structured", "input_first") == {"c0": 0, "cB": 0, "cx": 1_100,
                                                           "cBx": 10}
    assert batch_crossover_exact("dense", 1000) == Fraction(11_000_000, 101_000)
    assert batch_crossover_exact("structured", 1000) == Fraction(1_100_000, 91_100)
    assert batch_crossover_exact("dense", None) == Fraction(11_000, 90)
    assert batch_crossover_exact("structured", None) == Fraction(1_100, 90)
    c = crossovers((100,)).set_index(["structure"]).iloc[:2]
    assert c.loc["dense", "crossover"] == 55.0 and c.loc["dense", "smallest_b"] == 56


def test_batch_costs_counted_equal_the_cost_model():
    t = batch_costs((1, 109))
    assert (t["counted"] == t["predicted"]).all()
    got = t.set_index(["batch", "structure", "order"])["counted"]
    assert got[(109, "dense", "loss_first")] == 109 * 111_000
    assert got[(109, "dense", "input_first")] == 11_000_000 + 109 * 10_000
    assert got[(109, "structured", "loss_first")] == 109 * 101_100
    assert got[(109, "structured", "input_first")] == 1_100_000 + 109 * 10_000


def test_claims_table_names_both_conventions():
    costs = convention_costs((1, 1000), 1)
    t = claims_table(costs, affine_in_x(costs), crossovers((1000,)), batch_costs((1, 16)))
    assert list(t.columns) == ["claim", "dense", "structured"]
    rows = t.set_index("claim")
    assert rows.loc["input-first / loss-first at |x| = 1,000"].tolist() == ["99.19x", "10.98x"]
    assert rows.loc["slope ratio as |x| grows"].tolist() == [
        "11,010 / 100 = 110.1x", "1,110 / 100 = 11.1x"]
    assert rows.loc["B from which input-first is cheaper, |x| = 1,000"].tolist() == [
        "B > 108.9", "B > 12.07"]
    assert rows.loc["B up to which loss-first is optimal, |x| = 1,000"].tolist() == ["10", "10"]
    assert rows.loc["|x| tried where input-first is cheaper"].tolist() == ["1", "1"]


def test_caching_rows_by_hand():
    # widths 3, 3, 3, 4: three affine layers, tanh between them.
    # dense sweep: dW3 1·4·12 + db3 1·4·4 + W3 1·4·3 + tanh 1·3·3
    #   + (dW 1·3·9 + db 1·3·3 + W 1·3·3) for layer 2 + tanh 9 + the same for layer 1
    dense = caching.caching_row(3, 3, 0, "dense")
    assert dense["loss_first_cached_multiplications"] == 48 + 16 + 12 + 9 + (27 + 9 + 9) * 2 + 9
    # structured: row ⊗ z2ᵀ written out (4·3), b's identity free, row·W3 12, tanh 3,
    # layer 2: outer 9 + W 9, tanh 3, layer 1: outer 9 + W 9
    st = caching.caching_row(3, 3, 0, "structured")
    assert st["loss_first_cached_multiplications"] == 12 + 12 + 3 + 9 + 9 + 3 + 9 + 9
    # one chain per parameter, loss-first: W3 12, b3 0, W2 12+3+9, b2 12+3, W1 12+3+9+3+9,
    # b1 12+3+9+3, dx 12+3+9+3+9
    assert st["loss_first_uncached_multiplications"] == 12 + 0 + 24 + 15 + 36 + 27 + 36
    assert st["max_abs_difference"] < 1e-12
    savings = caching.caching_savings(pd.DataFrame([dense, st]))
    assert list(savings.columns) == [
        "depth", f"loss-first uncached / cached, {DENSE_}",
        f"loss-first uncached / cached, {STRUCTURED_}",
        f"input-first / cached loss-first, {DENSE_}",
        f"input-first / cached loss-first, {STRUCTURED_}"]
    assert savings.iloc[0, 2] == pytest.approx(150 / 66)


def test_caching_fits_per_convention():
    rows = [caching.caching_row(d, 3, 0, st) for st in ("dense", "structured") for d in (2, 4)]
    fits = caching.caching_fits(pd.DataFrame(rows))
    assert list(fits["structure"]) == ["dense"] * 3 + ["structured"] * 3
    assert (fits.loc[fits["method"] == "loss_first_cached", "ratio_at_max_depth"] == 1.0).all()


def test_exact_polynomial_finds_the_lowest_degree():
    assert caching.exact_polynomial([2, 4, 8], [5, 9, 17]) == {
        "coefficients": [1, 2], "degree": 1, "exact": True, "points": 3, "checked": 1}
    fit = caching.exact_polynomial([1, 2, 3, 4], [1, 8, 27, 64])  # cubic: no quadratic fits
    assert fit["exact"] is False and fit["degree"] == 2
    assert caching.exact_polynomial([2, 4], [1, 2])["coefficients"] == [0, Fraction(1, 2)]
    assert caching.polynomial_text([-24, -384, 600]) == "600·depth² - 384·depth - 24"
    assert caching.polynomial_text([0]) == "0"


def test_caching_laws_are_exact_per_convention():
    rows = [caching.caching_row(d, 3, 0, st) for st in ("dense", "structured")
            for d in (2, 3, 4, 5)]
    laws = caching.caching_laws(pd.DataFrame(rows)).set_index(["convention", "method"])
    assert laws["exact"].all()
    assert laws.loc[("dense", "loss_first_cached"), "degree"] == 1
    assert laws.loc[("structured", "loss_first_uncached"), "degree"] == 2
    # width w: the saving grows about 2/(w + 3)·depth dense, (w + 1)/(2w + 1)·depth structured
    assert laws.loc[("dense", "loss_first_uncached"), "per_layer"] == pytest.approx(2 / 6)
    assert laws.loc[("structured", "loss_first_uncached"), "per_layer"] == pytest.approx(4 / 7)
    text = caching._law_finding(laws.reset_index(), 3)
    assert text.startswith("Exact in depth (fitted through the smallest depths, and ")
    assert f"{DENSE}: cached " in text and f"{STRUCTURED}: cached " in text
    assert "about 0.3333·depth dense and 0.5714·depth structured" in text


def test_counted_equals_the_formulas_is_a_check_that_fails_when_the_data_change():
    from chainorder.lab.studies.structured_article import _checks, _findings

    costs, batch = convention_costs((1, 10, 1000), 10), batch_costs((1, 16))
    checks = _checks(costs, batch)
    assert "equal in 12 of 12 (size, convention, order) triples up to |x| = 10" in checks[0]
    assert checks[1] == f"- The same for the batch rows: equal in all {len(batch)}."
    findings = " ".join(_findings(costs, affine_in_x(costs), crossovers((1000,)), batch))
    assert "Counted" not in findings and "counted" not in findings  # a check, not a finding
    broken = costs.copy()
    broken.loc[broken["counted"].notna().idxmax(), "counted"] += 1
    wrong = batch.assign(counted=batch["counted"] + 1)
    checks = _checks(broken, wrong)
    assert "FAILED: they differ in 1 of 12" in checks[0] and "FAILED" in checks[1]


def test_exact_orders_are_checked_not_reported_as_findings():
    from chainorder.lab.studies import optimizer

    assert optimizer.exact_orders(["hu_shing", "dp", "best_fan"]) == ["hu_shing", "dp"]
    rc = pd.DataFrame({"optimal": [5, 7], "hu_shing": [5, 7]}).astype("Int64")
    assert "must cost the optimum on every chain: checked (2 chains)" in optimizer._checks(
        rc, ["hu_shing"])[0]
    rc.loc[1, "hu_shing"] = 8
    assert "FAILED on 1 chains" in optimizer._checks(rc, ["hu_shing"])[0]
