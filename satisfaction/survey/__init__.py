"""The survey engine beyond means and totals — what a survey statistician reaches for in R's
``survey`` — each checked against it (``tests/reference/survey_*.R``):

==========================  =====================================================================
``ciprop``, ``categories``  satisfaction rates with ``svyciprop``'s intervals; every category at once
``quantile``, ``median``    ``svyquantile`` (Woodruff and the other interval types)
``var``                     ``svyvar``
``table``, ``crosstab``     ``svytable``; cell, row and column shares with SEs
``chisq``                   ``svychisq``: Rao–Scott first- and second-order, Wald, adjusted Wald …
``glm``                     ``svyglm``: gaussian, quasibinomial, quasipoisson
``replicate_variance``      ``svrVar`` — the one replicate-variance function of the package
``confint``,                the one interval helper and critical value
``critical_value``
``brr_weights``,            BRR / Fay replicates on R's Hadamard matrices
``hadamard``
==========================  =====================================================================

The design object, weighting and the mean/total/ratio estimators are
:mod:`satisfaction.design`, :mod:`satisfaction.weighting` and :mod:`satisfaction.estimate`.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "ciprop": "proportion", "categories": "proportion",
    "quantile": "quantiles", "median": "quantiles",
    "var": "dispersion",
    "table": "tables", "crosstab": "tables", "chisq": "tables",
    "glm": "regression",
    "replicate_variance": "variance", "confint": "variance", "critical_value": "variance",
    "brr_weights": "replicates", "hadamard": "replicates",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'satisfaction.survey' has no attribute {name!r}")
