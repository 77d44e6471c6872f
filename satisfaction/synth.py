"""The demo survey: a realistic, deterministic provincial evaluation (Guangxi, 14 cities, 2019–2024).

:func:`generate` simulates respondents; :func:`write_raw` writes them as the field agencies would
deliver them (CSV in UTF-8 with BOM, CSV in GBK, XLSX with Chinese headers), plus population
margins per city for weighting. The same seed always gives the same bytes.

How answers arise (a latent-variable model, Likert items cut from continuous responses):

* each respondent has a general satisfaction ``g ~ N(0, 0.6)`` and a specific part per first-level
  indicator ``s_d ~ N(0, 0.4)``; the latent satisfaction with dimension d is
  ``eta_d = mu[city, year, d] + demographic effects + g + s_d``;
* an item's continuous response is ``eta_d + e`` with ``e ~ N(0, 1.6)``, cut into the categories of
  the item's scale (reverse-coded frequency items are mirrored), which gives inter-item correlations
  of about 0.3–0.35 and Cronbach's alpha around 0.8 per dimension;
* city effects are fixed; every city drifts upwards slowly; 贺州 (Hezhou) starts near the bottom in
  2019 and climbs after its 2020 improvement plan;
* older, less educated and rural residents are more satisfied, while the sample over-represents
  young, educated, urban people — so unweighted scores are biased and weighting matters;
* 3–8 % "don't know" codes (more for rights-protection items), a few refusals, about 2 %
  straight-liners and 2 % speeders.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .codebook import Codebook, load_codebook
from .ingest import xlsx_bytes

DEFAULT_SEED = 20240601
YEARS = tuple(range(2019, 2025))

#: Baseline latent effect per city (order of the codebook's city list).
CITY_EFFECT = {
    "450100": 0.30, "450200": 0.18, "450300": 0.24, "450400": 0.02, "450500": 0.14,
    "450600": 0.05, "450700": -0.04, "450800": -0.10, "450900": 0.06, "451000": -0.12,
    "451100": -0.42, "451200": -0.20, "451300": -0.16, "451400": -0.08,
}
#: Dimension offsets: rights protection (消费维权) lags supply and environment.
DIMENSION_EFFECT = {"S": 0.10, "E": 0.0, "R": -0.18}
#: Adult population (thousands) per city, roughly the 2020 census.
CITY_POPULATION = {
    "450100": 6950, "450200": 3300, "450300": 3850, "450400": 2150, "450500": 1450,
    "450600": 800, "450700": 2500, "450800": 3200, "450900": 4300, "451000": 2750,
    "451100": 1500, "451200": 2600, "451300": 1600, "451400": 1600,
}
#: Retail sales of consumer goods (100 million yuan), for population/sales-weighted composites.
CITY_RETAIL_SALES = {
    "450100": 2200, "450200": 980, "450300": 1020, "450400": 430, "450500": 330,
    "450600": 150, "450700": 420, "450800": 560, "450900": 840, "451000": 420,
    "451100": 270, "451200": 350, "451300": 230, "451400": 250,
}

AGE_EFFECT = np.array([-0.20, -0.10, 0.0, 0.10, 0.22])  # 18-29 … 60+
EDU_EFFECT = np.array([0.15, 0.05, -0.05, -0.15])        # lower secondary … bachelor+
RURAL_EFFECT = 0.08
# Over-representation of groups in the achieved sample, relative to the population.
AGE_BIAS = np.array([1.5, 1.25, 1.0, 0.8, 0.6])
EDU_BIAS = np.array([0.7, 0.95, 1.25, 1.6])
RESIDENCE_BIAS = np.array([1.25, 0.75])  # urban, rural

VAR_GENERAL, VAR_SPECIFIC, VAR_ITEM = 0.6, 0.4, 1.6


def city_mean(city: str, year: int, dimension: str) -> float:
    """Latent mean for a city, year and first-level indicator."""
    trend = 0.035 * (year - 2019)
    effect = CITY_EFFECT[city]
    if city == "451100" and year >= 2021:  # 贺州's improvement plan (2020) pays off from 2021
        effect += 0.11 * (year - 2020)
    return 0.95 + effect + trend + DIMENSION_EFFECT[dimension]


def population_joint(city: str) -> pd.DataFrame:
    """Population shares over sex × age group × education × residence for one city.

    Larger cities are younger, more educated and more urban; older people are less educated.
    """
    size = (CITY_POPULATION[city] - 800) / (6950 - 800)  # 0 (small) … 1 (Nanning)
    sex = np.array([0.51, 0.49])
    age = np.array([0.19, 0.19, 0.20, 0.19, 0.23]) * np.array([1 + 0.3 * size, 1 + 0.2 * size, 1, 1 - 0.1 * size, 1 - 0.25 * size])
    urban = 0.45 + 0.35 * size
    res = np.array([urban, 1 - urban])
    edu_by_age = np.array([
        [0.22, 0.30, 0.24, 0.24],
        [0.30, 0.30, 0.20, 0.20],
        [0.45, 0.30, 0.13, 0.12],
        [0.58, 0.27, 0.08, 0.07],
        [0.72, 0.20, 0.05, 0.03],
    ])
    edu_by_age = edu_by_age * np.array([1 - 0.3 * size, 1, 1 + 0.3 * size, 1 + 0.5 * size])
    edu_by_age /= edu_by_age.sum(axis=1, keepdims=True)
    joint = (sex[:, None, None, None] * age[None, :, None, None] * edu_by_age[None, :, :, None] * res[None, None, None, :])
    joint /= joint.sum()
    grid = pd.MultiIndex.from_product([[1, 2], [1, 2, 3, 4, 5], [1, 2, 3, 4], [1, 2]],
                                      names=["sex", "age_group", "education", "residence"])
    return pd.DataFrame({"share": joint.ravel()}, index=grid).reset_index()


def population_margins(codebook: Codebook) -> pd.DataFrame:
    """Population counts per city for the raking margins: sex × age group, education, residence."""
    rows = []
    for city in codebook.cities:
        joint = population_joint(city)
        total = CITY_POPULATION[city] * 1000
        joint["count"] = joint["share"] * total
        sex_age = joint.groupby(["sex", "age_group"])["count"].sum()
        for (s, a), v in sex_age.items():
            rows.append((city, "sex_age", f"{s}_{a}", v))
        for var in ("education", "residence"):
            for cat, v in joint.groupby(var)["count"].sum().items():
                rows.append((city, var, str(cat), v))
    out = pd.DataFrame(rows, columns=["city", "variable", "category", "count"])
    out["count"] = out["count"].round().astype("int64")
    return out


def _cut(latent: np.ndarray, n_categories: int, centre: float) -> np.ndarray:
    """Cut a continuous response into 1..n_categories with equally spaced thresholds around ``centre``."""
    sd = np.sqrt(VAR_GENERAL + VAR_SPECIFIC + VAR_ITEM)
    step = 2.2 * sd / n_categories
    thresholds = centre + step * (np.arange(1, n_categories) - n_categories / 2)
    return 1 + np.searchsorted(thresholds, latent)


@dataclass
class SynthSurvey:
    """A simulated evaluation: answer codes as the questionnaire records them, per year."""

    responses: dict[int, pd.DataFrame]
    margins: pd.DataFrame
    cities: pd.DataFrame
    seed: int


def _structural_items(codebook: Codebook, quality: np.ndarray, overall: np.ndarray, rng: np.random.Generator) -> dict:
    """Answers to the customer-satisfaction-model items (codebook ``structural_model``), from a
    recursive latent model around the respondent's perceived quality of the tree's dimensions and
    their overall satisfaction: expectations → quality → value → satisfaction → complaints,
    loyalty. Drawn from their own stream so that the other answers do not depend on them."""
    n = len(quality)
    expect = 0.55 * quality + rng.normal(0, 0.75, n)
    qual = quality + rng.normal(0, 0.45, n)
    value = 0.55 * qual + 0.15 * expect + rng.normal(0, 0.7, n)
    complain = -0.55 * overall + rng.normal(0, 0.9, n)
    loyal = 0.65 * overall - 0.12 * complain + rng.normal(0, 0.7, n)
    latent = {"EXP": (expect, 0.0), "QUA": (qual, 0.0), "VAL": (value, 0.0), "SAT": (overall, 0.0),
              "CMP": (complain, 1.2), "LOY": (loyal, 0.0)}
    answers = {}
    for code in (c for block in codebook.structural.get("blocks", {}).values() for c in block):
        if code == "OVERALL" or code[:3] not in latent:
            continue
        item = codebook.items[code]
        eta, centre = latent[code[:3]]
        k = int(item.scale.max - item.scale.min + 1)
        y = (_cut(eta + rng.normal(0, 0.8, n), k, centre) - 1 + item.scale.min).astype(float)
        if item.scale.dont_know:
            y[rng.random(n) < 0.03] = item.scale.dont_know[0]
        if item.scale.missing:
            y[rng.random(n) < 0.004] = item.scale.missing[0]
        answers[code] = y
    return answers


def _simulate_city_year(codebook: Codebook, city: str, year: int, rng: np.random.Generator,
                        model_rng: np.random.Generator | None = None) -> pd.DataFrame:
    n_valid = 540 + int(rng.integers(0, 40))
    n_bad = int(rng.binomial(n_valid, 0.04))
    n = n_valid + n_bad

    joint = population_joint(city)
    bias = (AGE_BIAS[joint["age_group"] - 1] * EDU_BIAS[joint["education"] - 1] * RESIDENCE_BIAS[joint["residence"] - 1])
    p = joint["share"].to_numpy() * bias
    cells = rng.choice(len(joint), size=n, p=p / p.sum())
    demo = joint.iloc[cells][["sex", "age_group", "education", "residence"]].reset_index(drop=True)

    shift = (AGE_EFFECT[demo["age_group"] - 1] + EDU_EFFECT[demo["education"] - 1] + RURAL_EFFECT * (demo["residence"] == 2)).to_numpy()
    general = rng.normal(0, np.sqrt(VAR_GENERAL), n)
    answers: dict[str, np.ndarray] = {}
    dim_latent = {}
    for dim in codebook.dimensions:
        eta = city_mean(city, year, dim.code) + shift + general + rng.normal(0, np.sqrt(VAR_SPECIFIC), n)
        dim_latent[dim.code] = eta
        for ind in dim.children:
            for code in ind.weights:
                item = codebook.items[code]
                k = int(item.scale.max - item.scale.min + 1)
                y = _cut(eta + rng.normal(0, np.sqrt(VAR_ITEM), n), k, centre=0.0)
                if item.reverse:
                    y = k + 1 - y
                answers[code] = (y - 1 + item.scale.min).astype(float)
    quality = sum(codebook.tree.weights[d] * dim_latent[d] for d in dim_latent)
    overall = quality + rng.normal(0, 0.8, n)
    model_items = {c for block in codebook.structural.get("blocks", {}).values() for c in block} - {"OVERALL"}
    aux = [c for c in codebook.item_codes if codebook.items[c].auxiliary and c not in model_items]
    for code in aux:
        item = codebook.items[code]
        answers[code] = (_cut(overall, int(item.scale.max - item.scale.min + 1), 0.0) - 1 + item.scale.min).astype(float)
    ans = pd.DataFrame(answers)

    # Response styles: the "bad" interviews are straight-liners (same code on every 5-point item)
    # or speeders (very short interviews, noisier answers).
    duration = np.exp(rng.normal(np.log(900), 0.3, n)).round()
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, n_bad, replace=False)] = True
    straight = bad & (rng.random(n) < 0.5)
    speed = bad & ~straight
    five_point = [c for c in ans.columns if codebook.items[c].scale.max == 5]
    line_value = rng.choice([3, 4, 5], size=n, p=[0.2, 0.5, 0.3]).astype(float)
    ans.loc[straight, five_point] = np.repeat(line_value[straight, None], len(five_point), axis=1)
    duration[speed] = rng.integers(150, 300, speed.sum())
    duration[straight] = np.minimum(duration[straight], rng.integers(250, 600, straight.sum()))

    # Don't-know and refusals: rights-protection items are often "don't know" (never complained).
    for code in ans.columns:
        item = codebook.items[code]
        rate = 0.075 if code.startswith("R") else 0.03
        dk = rng.random(n) < rate
        refused = rng.random(n) < 0.004
        if item.scale.dont_know:
            ans.loc[dk & ~straight, code] = item.scale.dont_know[0]
        if item.scale.missing:
            ans.loc[refused & ~straight, code] = item.scale.missing[0]

    if model_items:
        extra = _structural_items(codebook, quality, overall, model_rng or np.random.default_rng([year, int(city)]))
        ans = pd.concat([ans, pd.DataFrame(extra)[[c for c in codebook.item_codes if c in extra]]], axis=1)

    start = np.datetime64(f"{year}-09-01")
    dates = start + rng.integers(0, 61, n).astype("timedelta64[D]")
    order = np.argsort(dates, kind="stable")
    out = pd.concat([demo, ans], axis=1).iloc[order].reset_index(drop=True)
    out.insert(0, "interview_date", pd.Series(dates[order]).dt.strftime("%Y-%m-%d"))
    out.insert(1, "duration_sec", duration[order].astype(int))
    out.insert(2, "interviewer", [f"{city[2:4]}{v:02d}" for v in rng.integers(1, 16, n)])
    out.insert(0, "city", city)
    out.insert(0, "respondent_id", [f"{year}{city}{i:04d}" for i in range(1, n + 1)])
    out.insert(2, "year", year)
    return out


def generate(seed: int = DEFAULT_SEED, years=YEARS, codebook: Codebook | str | Path | None = None) -> SynthSurvey:
    """Simulate the demo evaluation. Deterministic: the same seed gives the same answers.

    Returns a :class:`SynthSurvey` whose ``responses[year]`` holds one row per interview with item
    codes as columns and the raw answer codes (including don't-know and refusal codes).
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook or default_codebook_path())
    responses = {}
    for year in years:
        frames = []
        for j, city in enumerate(cb.cities):
            rng = np.random.default_rng([seed, int(year), j])
            frames.append(_simulate_city_year(cb, city, year, rng, np.random.default_rng([seed, int(year), j, 1])))
        responses[int(year)] = pd.concat(frames, ignore_index=True)
    cities = pd.DataFrame({
        "city": list(cb.cities),
        "name": [c.zh for c in cb.cities.values()],
        "adult_population": [CITY_POPULATION[c] * 1000 for c in cb.cities],
        "retail_sales": [CITY_RETAIL_SALES[c] for c in cb.cities],
    })
    return SynthSurvey(responses, population_margins(cb), cities, seed)


# ---- writing the exports as the agencies deliver them ---------------------------------------

#: Which agency surveys which cities, and how it exports: (encoding or "xlsx", header variant, city spelling).
AGENCIES = {
    "agency_a": ("utf-8-sig", "long", "zh_suffix"),
    "agency_b": ("gbk", "long", "zh"),
    "agency_c": ("xlsx", "short", "code"),
}


def _agency_of(city_position: int) -> str:
    return "agency_a" if city_position < 5 else ("agency_b" if city_position < 10 else "agency_c")


def export_frame(df: pd.DataFrame, codebook: Codebook, header_variant: str, city_style: str) -> pd.DataFrame:
    """Rename coded columns to the Chinese headers an agency uses, and spell cities its way."""
    out = df.copy()
    names = {}
    for code, f in codebook.fields.items():
        names[code] = f.headers[0]
    for code, d in codebook.demographics.items():
        names[code] = d.headers[0]
    for code, it in codebook.items.items():
        names[code] = it.headers[0] if header_variant == "long" else it.headers[1]
    if city_style == "zh_suffix":
        out["city"] = out["city"].map(lambda c: codebook.cities[c].aliases[0])
    elif city_style == "zh":
        out["city"] = out["city"].map(lambda c: codebook.cities[c].zh)
    for code in codebook.item_codes:  # answers are integers in the exports
        out[code] = out[code].astype("int64")
    return out.rename(columns=names)


def raw_files(survey: SynthSurvey, codebook: Codebook) -> dict[str, bytes]:
    """Every raw file of the demo, as relative path → bytes."""
    files: dict[str, bytes] = {}
    positions = {c: i for i, c in enumerate(codebook.cities)}
    for year, df in survey.responses.items():
        agency = df["city"].map(lambda c: _agency_of(positions[c]))
        for name, (encoding, variant, city_style) in AGENCIES.items():
            part = export_frame(df[agency == name], codebook, variant, city_style)
            if encoding == "xlsx":
                files[f"{year}/{name}_{year}.xlsx"] = xlsx_bytes({"问卷数据": part})
            else:
                text = part.to_csv(index=False, lineterminator="\r\n")
                suffix = "_gbk" if encoding == "gbk" else ""
                files[f"{year}/{name}_{year}{suffix}.csv"] = text.encode(encoding)
    files["population/margins.csv"] = survey.margins.to_csv(index=False, lineterminator="\n").encode("utf-8")
    files["population/cities.csv"] = survey.cities.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return files


def write_raw(out_dir: str | Path, seed: int = DEFAULT_SEED, codebook: Codebook | str | Path | None = None,
              years=None) -> dict[str, str]:
    """Write the demo's raw files under ``out_dir`` (every demo year, or ``years``); returns relative
    path → sha256."""
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook or default_codebook_path())
    files = raw_files(generate(seed, years=list(years) if years else YEARS, codebook=cb), cb)
    out_dir = Path(out_dir)
    hashes = {}
    for rel, blob in sorted(files.items()):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        hashes[rel] = hashlib.sha256(blob).hexdigest()
    return hashes


def default_codebook_path() -> Path:
    """The demo codebook shipped with the package (the demo survey follows its questionnaire)."""
    from .project import demo_codebook_path

    return demo_codebook_path()
