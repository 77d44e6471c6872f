"""Reference numbers from seminr (PyPI ``seminr==0.2.1``, the Python port of R's seminr that agrees
with R seminr to 1e-5 on this data set) for the mobile-phone ECSI data ``mobi`` (250 × 24).

Run from the repository root, with seminr installed (``pip install seminr==0.2.1``):

    python tests/reference/pls/seminr_reference.py

Writes ``tests/reference/pls/seminr_reference.json``: for the path and factorial schemes, outer
weights, outer loadings, path coefficients, R², the reliability table (alpha, rhoA, rhoC, AVE)
and HTMT; and a 200-resample bootstrap whose resamples are drawn here from a fixed seed (the test
draws the same ones) so that bootstrap SDs can be compared exactly.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import seminr as sm
from seminr.specify.constructs import composite, constructs, mode_B, single_item
from seminr.specify.relationships import paths, relationships

HERE = Path(__file__).parent
BOOT_SEED, BOOT_N = 20240601, 200

mobi = pd.read_csv(HERE / "mobi.csv")
measurement = constructs(
    composite("Image", [f"IMAG{i}" for i in range(1, 6)]),
    composite("Expectation", ["CUEX1", "CUEX2", "CUEX3"]),
    composite("Quality", [f"PERQ{i}" for i in range(1, 8)], weights=mode_B),
    composite("Value", ["PERV1", "PERV2"]),
    composite("Satisfaction", ["CUSA1", "CUSA2", "CUSA3"]),
    composite("Complaints", single_item("CUSCO")),
    composite("Loyalty", ["CUSL1", "CUSL2", "CUSL3"]),
)
structure = relationships(
    paths("Image", ["Expectation", "Satisfaction", "Loyalty"]),
    paths("Expectation", ["Quality", "Value", "Satisfaction"]),
    paths("Quality", ["Value", "Satisfaction"]),
    paths("Value", "Satisfaction"),
    paths("Satisfaction", ["Complaints", "Loyalty"]),
    paths("Complaints", "Loyalty"),
)


def matrix(nm):
    return {r: {c: float(nm.get(r, c)) for c in nm.cols} for r in nm.rows}


out = {"source": f"seminr {sm.__version__ if hasattr(sm, '__version__') else '0.2.1'} (PyPI)",
       "blocks": {"Image": [f"IMAG{i}" for i in range(1, 6)], "Expectation": ["CUEX1", "CUEX2", "CUEX3"],
                  "Quality": [f"PERQ{i}" for i in range(1, 8)], "Value": ["PERV1", "PERV2"],
                  "Satisfaction": ["CUSA1", "CUSA2", "CUSA3"], "Complaints": ["CUSCO"],
                  "Loyalty": ["CUSL1", "CUSL2", "CUSL3"]},
       "paths": {"Expectation": ["Image"], "Quality": ["Expectation"], "Value": ["Expectation", "Quality"],
                 "Satisfaction": ["Image", "Expectation", "Quality", "Value"], "Complaints": ["Satisfaction"],
                 "Loyalty": ["Image", "Satisfaction", "Complaints"]},
       "modes": {"Quality": "B"}}
for scheme, fn in [("path", sm.path_weighting), ("factorial", sm.path_factorial)]:
    model = sm.estimate_pls(mobi, measurement, structure, inner_weights=fn, stop_criterion=12, max_it=1000)
    out[scheme] = {"outer_weights": matrix(model.outer_weights), "outer_loadings": matrix(model.outer_loadings),
                   "path_coef": matrix(model.path_coef), "r_squared": matrix(model.r_squared),
                   "reliability": matrix(sm.reliability_table(model)), "htmt": matrix(sm.htmt(model))}
    if scheme == "path":
        indices = np.random.default_rng(BOOT_SEED).integers(0, len(mobi), size=(BOOT_N, len(mobi)))
        boot = sm.bootstrap_model(model, nboot=BOOT_N, indices=indices)
        out["bootstrap"] = {"seed": BOOT_SEED, "nboot": BOOT_N, "paths": matrix(boot.paths_descriptives),
                            "weights": matrix(boot.weights_descriptives), "loadings": matrix(boot.loadings_descriptives)}
(HERE / "seminr_reference.json").write_text(json.dumps(out, indent=1, allow_nan=True))
print("wrote", HERE / "seminr_reference.json")
