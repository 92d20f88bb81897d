"""The time-optimal page's findings: populations named, a goal that can fail, a seeded sample."""

from __future__ import annotations

import pandas as pd

from chainorder.lab.studies import time_optimal as T


def _pairs(verdicts: dict[str, list[str]]) -> pd.DataFrame:
    rows = []
    for source, vs in verdicts.items():
        for k, v in enumerate(vs):
            measured = {"faster": 1.3, "tie": 1.0, "slower": 0.8}[v]
            rows.append({"case": f"{source}-{k}", "source": source, "verdict": v,
                         "predicted_speedup": 1.5 if source == "picked" else 1.25,
                         "flop_plan_median": measured, "time_plan_median": 1.0,
                         "cost_ratio": 1.2, "loaded": False})
    return pd.DataFrame(rows)


DOC = {"grid_cases": ["a", "b", "c"], "trials": 100, "differing_found": 30,
       "random_chains": [[1, 2, 3]] * 2, "sampled_chains": [[1, 2, 3]] * 8}


def test_findings_name_each_population_and_judge_the_unbiased_ones():
    table = _pairs({"picked": ["faster", "slower"], "sampled": ["tie"] * 7 + ["slower"]})
    text = " ".join(T._verdict_findings(table, DOC, "1 BLAS thread", "", 0.2))
    assert "random chains picked for their largest predicted gain: 1 faster, 0 ties, 1 slower " \
           "of 2" in text
    assert "sampled by a seeded rule: 0 faster, 7 ties, 1 slower of 8" in text
    assert "below prediction in 8 of 8" in text
    assert "never measurably slower on the pairs not picked" in text
    assert "is not met: 1 of 8 slower" in text
    assert "the plans differ on 30, of which 2 were picked" in text


def test_the_goal_changes_with_the_data():
    table = _pairs({"picked": ["slower", "slower"], "grid": ["faster"], "sampled": ["tie"] * 9})
    text = T._goal_text(table)
    assert text.startswith("The goal fixed before measuring") and "is met: 0 of 10" in text
    table.loc[table["case"] == "grid-0", "verdict"] = "slower"
    table.loc[table["case"] == "sampled-0", "verdict"] = "slower"
    assert "is not met: 2 of 10" in T._goal_text(table)
    table.loc[table["case"] == "grid-0", "verdict"] = "faster"
    assert "is not met: 1 of 10" in T._goal_text(table)  # one slower pair fails the goal
    assert "not judged" in T._goal_text(table[table["source"] == "picked"])


def test_the_sample_ignores_the_gain_order_and_is_seeded():
    found = [(k, k + 1, k + 2) for k in range(50)]
    a = T.sample_differing(found, 5, 6, seed=3)
    assert a == T.sample_differing(found, 5, 6, seed=3) and len(set(a)) == 6
    assert not set(a) & set(found[:5])
    assert T.sample_differing(found[:3], 5, 6, seed=0) == []
