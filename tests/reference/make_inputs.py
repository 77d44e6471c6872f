"""Write the inputs that tests/reference/survey_reference.R reads: a small extract of the demo
survey (three cities of 2024), its population margins, and bootstrap replicate weights drawn by
our own code (so R's svrepdesign and ours use the very same replicates).

    python tests/reference/make_inputs.py && Rscript tests/reference/survey_reference.R
    Rscript tests/reference/psych_reference.R
"""
from pathlib import Path

import numpy as np
import pandas as pd

import satisfaction as sat
from satisfaction.design import SurveyDesign, bootstrap_weights

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CITIES = ["450100", "450600", "451100"]


def main() -> None:
    cb = sat.load_codebook(ROOT / "data" / "raw" / "codebook.yaml")
    survey = sat.load_survey(ROOT / "data" / "raw" / "2024", cb, year=2024)
    df = survey.data[survey.data.city.isin(CITIES)].copy()
    out = pd.DataFrame({
        "id": df["respondent_id"].astype(str), "city": "c" + df["city"].astype(str),
        "interviewer": df["interviewer"].astype(str),
        "sex_age": "s" + df["sex"].astype(str) + "_" + df["age_group"].astype(str),
        "education": "e" + df["education"].astype(str), "residence": "r" + df["residence"].astype(str),
        "S1a": df["S1a"], "E1b": df["E1b"], "R3a": df["R3a"],
    }).reset_index(drop=True)
    out.to_csv(HERE / "data" / "demo_extract.csv", index=False, float_format="%.10g")
    margins = pd.read_csv(ROOT / "data" / "raw" / "population" / "margins.csv", dtype={"city": str, "category": str})
    margins = margins[margins.city.isin(CITIES)].copy()
    prefix = {"sex_age": "s", "education": "e", "residence": "r"}
    margins["category"] = margins["variable"].map(prefix) + margins["category"]
    margins["city"] = "c" + margins["city"]
    # the census table's margins differ by rounding; make them agree exactly so that R's rake and
    # calibrate (which do not reconcile totals) face the same problem as ours
    totals = margins.groupby(["city", "variable"])["count"].transform("sum")
    first = margins[margins.variable == "sex_age"].groupby("city")["count"].sum()
    margins["count"] = margins["count"] * margins["city"].map(first) / totals
    margins.to_csv(HERE / "data" / "demo_margins.csv", index=False, float_format="%.12g")
    # Rao-Wu draws: replicate weight = weight · n_h/(n_h − 1) · (times the unit was drawn); we store
    # the counts, and both R and the tests rebuild the weights from them.
    design = bootstrap_weights(SurveyDesign(out, strata="city"), replicates=40, seed=20240601)
    n_h = out.groupby("city")["id"].transform("size").to_numpy()
    counts = np.rint(design.replicates.weights * (n_h - 1)[:, None] / n_h[:, None]).astype(int)
    assert np.allclose(counts * (n_h / (n_h - 1))[:, None], design.replicates.weights)
    pd.DataFrame(counts, columns=[f"rep{b + 1}" for b in range(40)]).to_csv(HERE / "data" / "demo_bootstrap_counts.csv", index=False)
    # the items of the first-level indicator 消费供给 (all cities, 2024) for psych_reference.R
    supply = [c for ind in cb.node("S").children for c in ind.weights]
    survey.data[supply].to_csv(HERE / "data" / "demo_supply_items.csv", index=False, float_format="%.10g")
    # all index items of the first 2,000 respondents, for HTMT and composite reliability
    survey.data[cb.index_items].head(2000).to_csv(HERE / "data" / "demo_index_items.csv", index=False, float_format="%.10g")


if __name__ == "__main__":
    main()
