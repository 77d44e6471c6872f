"""The codebook: questionnaire items, scales, the indicator tree, demographics and cities.

A codebook is a YAML file (see ``data/raw/codebook.yaml``). :func:`load_codebook` reads it and
checks every rule at once, so that one run reports every mistake:

* every code (item, indicator, dimension, city, field) is unique;
* the weights of siblings in the tree are positive and sum to 1 (within 1e-6);
* every item referenced by the tree is defined, sits in exactly one branch, and uses a defined scale;
* every defined item is in the tree unless it is marked ``auxiliary: true``;
* scales have ``min < max`` and missing / don't-know codes outside ``[min, max]``;
* no raw header is claimed by two different columns.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


import yaml

from .errors import CodebookError

WEIGHT_TOLERANCE = 1e-6
#: How the survey weights are calibrated to the population margins (codebook ``weighting.method``).
WEIGHTING_METHODS = ("raking", "linear", "poststratify")


def normalize_header(text: Any) -> str:
    """Canonical form of a column header: NFKC (full-width → half-width), no white space, case-folded."""
    text = unicodedata.normalize("NFKC", str(text))
    return re.sub(r"\s+", "", text).casefold()


class _Labelled:
    """Chinese (``zh``) and English (``en``) labels; ``label(lang)`` picks one."""

    zh: str
    en: str

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Scale:
    code: str
    min: float
    max: float
    dont_know: tuple[float, ...] = ()
    missing: tuple[float, ...] = ()
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Item(_Labelled):
    code: str
    zh: str
    en: str
    scale: Scale
    headers: tuple[str, ...]
    reverse: bool = False
    auxiliary: bool = False


@dataclass(frozen=True)
class Node(_Labelled):
    """A node of the indicator tree: the index, a first-level or a second-level indicator.

    ``weights`` maps each child code (a node code, or an item code for second-level indicators) to
    its weight among siblings.
    """

    code: str
    zh: str
    en: str
    level: int  # 0 = index, 1 = first-level (dimension), 2 = second-level indicator
    weights: dict[str, float]
    children: tuple["Node", ...] = ()

    @property
    def is_leaf_indicator(self) -> bool:
        return not self.children


@dataclass(frozen=True)
class Demographic(_Labelled):
    code: str
    zh: str
    en: str
    headers: tuple[str, ...]
    categories: dict[int, dict[str, str]]

    def category_label(self, value: int, lang: str = "zh") -> str:
        return self.categories[int(value)]["en" if lang == "en" else "zh"]


@dataclass(frozen=True)
class City(_Labelled):
    code: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    code: str
    zh: str
    en: str
    headers: tuple[str, ...]
    required: bool = False


@dataclass
class Codebook:
    """A validated codebook. Build it with :func:`load_codebook`."""

    path: str
    sha256: str
    title: dict[str, str]
    region: dict[str, str]
    min_valid_per_city: int
    fields: dict[str, Field]
    scales: dict[str, Scale]
    items: dict[str, Item]
    tree: Node
    demographics: dict[str, Demographic]
    cities: dict[str, City]
    personal_header_patterns: tuple[re.Pattern, ...]
    personal_value_patterns: tuple[re.Pattern, ...]
    personal_id_card: bool = False             # 18-character resident ID numbers, by check digit (GB 11643)
    personal_names: re.Pattern | None = None   # a declared surname followed by a given name or a title
    personal_surnames: tuple[str, ...] = ()
    min_cell: int = 30          # published cells resting on fewer respondents are suppressed
    weighting: dict = field(default_factory=dict)
    ahp: dict = field(default_factory=dict)  # node code -> (children in matrix order, judgement matrix)
    composite: dict = field(default_factory=dict)  # {"sizes_file": …, "sizes": [columns]}
    structural: dict = field(default_factory=dict)  # the PLS path model: blocks, paths, modes, labels …
    raw: dict = field(repr=False, default_factory=dict)

    # ---- the tree -------------------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[Node, ...]:
        """First-level indicators (消费供给, 消费环境, 消费维权) in codebook order."""
        return self.tree.children

    @property
    def indicators(self) -> tuple[Node, ...]:
        """Second-level indicators in codebook order."""
        return tuple(ind for dim in self.dimensions for ind in dim.children)

    @property
    def index_items(self) -> list[str]:
        """Codes of the items that enter the index, in tree order."""
        return [code for ind in self.indicators for code in ind.weights]

    @property
    def item_codes(self) -> list[str]:
        """Codes of all items (index items first, then auxiliary ones)."""
        aux = [c for c, it in self.items.items() if it.auxiliary]
        return self.index_items + aux

    def nodes(self) -> Iterator[Node]:
        """Every node of the tree, top-down."""
        stack = [self.tree]
        while stack:
            node = stack.pop(0)
            yield node
            stack.extend(node.children)

    def node(self, code: str) -> Node:
        for n in self.nodes():
            if n.code == code:
                return n
        raise KeyError(f"no node {code!r} in the indicator tree of {self.path}")

    def label(self, code: str, lang: str = "zh") -> str:
        """Label of any code in the codebook (node, item, city, field, demographic)."""
        key = "en" if lang == "en" else "zh"
        for n in self.nodes():
            if n.code == code:
                return getattr(n, key)
        for table in (self.items, self.cities, self.fields, self.demographics):
            if code in table:
                return getattr(table[code], key)
        raise KeyError(code)

    # ---- lookups used by ingestion --------------------------------------------------------
    def header_map(self) -> dict[str, str]:
        """Normalised raw header → column code (fields, demographics and items)."""
        out: dict[str, str] = {}
        for table in (self.fields, self.demographics, self.items):
            for code, entry in table.items():
                for h in (code, *entry.headers):
                    out[normalize_header(h)] = code
        return out

    def city_lookup(self) -> dict[str, str]:
        """Any spelling of a city (code, Chinese, English, alias) → city code."""
        out: dict[str, str] = {}
        for c in self.cities.values():
            for name in (c.code, c.zh, c.en, *c.aliases):
                out[normalize_header(name)] = c.code
        return out

    def city_label(self, code: str, lang: str = "zh") -> str:
        return self.cities[code].label(lang)

    @property
    def sizes_path(self) -> Path | None:
        """The unit sizes file for the provincial composite (relative to the codebook)."""
        if not self.composite:
            return None
        return Path(self.path).parent / self.composite["sizes_file"]

    @property
    def margins_path(self) -> Path | None:
        """The population margins file named by the ``weighting`` section (relative to the codebook)."""
        if not self.weighting:
            return None
        return Path(self.path).parent / self.weighting["margins_file"]


# ---- loading and validation -------------------------------------------------------------


def _labels(entry: dict, where: str, errors: list[str]) -> tuple[str, str]:
    zh, en = entry.get("zh"), entry.get("en")
    if not zh or not isinstance(zh, str):
        errors.append(f"{where}: missing Chinese label 'zh'")
    if not en or not isinstance(en, str):
        errors.append(f"{where}: missing English label 'en'")
    return str(zh or ""), str(en or "")


def _check_weights(weights: dict[str, Any], where: str, errors: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, w in weights.items():
        try:
            w = float(w)
        except (TypeError, ValueError):
            errors.append(f"{where}: weight of {key!r} is not a number ({w!r})")
            continue
        if not w > 0:
            errors.append(f"{where}: weight of {key!r} must be positive, got {w}")
        out[str(key)] = w
    if out and abs(sum(out.values()) - 1) > WEIGHT_TOLERANCE:
        errors.append(
            f"{where}: weights must sum to 1, got {sum(out.values()):.6g} ({', '.join(f'{k}={v:g}' for k, v in out.items())})"
        )
    return out


def _count_setting(raw: dict, key: str, default: int, errors: list[str]) -> int:
    """A non-negative whole number from the codebook (``default`` when absent); a bad one is an error."""
    try:
        value = int(raw.get(key, default))
        if value < 0 or float(raw.get(key, default)) != value:
            raise ValueError
        return value
    except (TypeError, ValueError):
        errors.append(f"{key}: must be a non-negative integer, got {raw.get(key)!r}")
        return default


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def read_yaml_mapping(path: str | Path, error: type, rule: str = "top level must be a mapping"):
    """A project's YAML file (the codebook, the targets): ``(resolved path, top-level mapping, bytes)``.
    A relative path is looked up in the current folder, else the project root. A file that cannot
    be read, is not UTF-8 YAML or is not a mapping raises ``error(path, [message])``; ``rule`` is
    the message for the last."""
    from .paths import resolve

    path = resolve(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise error(str(path), [f"cannot read file: {exc}"]) from exc
    try:
        raw = yaml.safe_load(blob.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(str(path), [f"not valid UTF-8 YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise error(str(path), [rule if "{" not in rule else rule.format(type=type(raw).__name__)])
    return path, raw, blob


def load_codebook(path: str | Path) -> Codebook:
    """Read and validate a codebook YAML file.

    Raises :class:`satisfaction.errors.CodebookError` listing every problem, each naming the key.
    """
    path, raw, blob = read_yaml_mapping(path, CodebookError)

    errors: list[str] = []
    for key in ("scales", "items", "tree", "cities", "fields", "index"):
        if key not in raw:
            errors.append(f"missing top-level key '{key}'")
    if errors:
        raise CodebookError(str(path), errors)

    seen_codes: dict[str, str] = {}

    def claim(code: str, where: str) -> None:
        if code in seen_codes:
            errors.append(f"{where}: duplicate code {code!r} (already used at {seen_codes[code]})")
        else:
            seen_codes[code] = where

    # scales
    scales: dict[str, Scale] = {}
    for code, s in (raw.get("scales") or {}).items():
        where = f"scales.{code}"
        try:
            lo, hi = float(s["min"]), float(s["max"])
        except (KeyError, TypeError, ValueError):
            errors.append(f"{where}: needs numeric 'min' and 'max'")
            continue
        if not lo < hi:
            errors.append(f"{where}: min ({lo:g}) must be below max ({hi:g})")
        special = [float(v) for v in _as_list(s.get("dont_know")) + _as_list(s.get("missing"))]
        for v in special:
            if lo <= v <= hi:
                errors.append(f"{where}: missing/don't-know code {v:g} lies inside the scale [{lo:g}, {hi:g}]")
        scales[str(code)] = Scale(
            str(code), lo, hi,
            tuple(float(v) for v in _as_list(s.get("dont_know"))),
            tuple(float(v) for v in _as_list(s.get("missing"))),
            str(s.get("zh", "")), str(s.get("en", "")),
        )

    # fields
    fields: dict[str, Field] = {}
    for code, f in (raw.get("fields") or {}).items():
        where = f"fields.{code}"
        claim(str(code), where)
        zh, en = _labels(f, where, errors)
        fields[str(code)] = Field(str(code), zh, en, tuple(map(str, _as_list(f.get("headers")))), bool(f.get("required", False)))
    for needed in ("respondent_id", "city"):
        if needed not in fields:
            errors.append(f"fields: the '{needed}' field must be defined")

    # items
    items: dict[str, Item] = {}
    for code, it in (raw.get("items") or {}).items():
        code = str(code)
        where = f"items.{code}"
        claim(code, where)
        if not isinstance(it, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        zh, en = _labels(it, where, errors)
        scale_code = it.get("scale")
        if scale_code not in scales:
            errors.append(f"{where}: unknown scale {scale_code!r} (defined: {', '.join(scales) or 'none'})")
            continue
        items[code] = Item(
            code, zh, en, scales[scale_code], tuple(map(str, _as_list(it.get("headers")))),
            bool(it.get("reverse", False)), bool(it.get("auxiliary", False)),
        )

    # demographics
    demographics: dict[str, Demographic] = {}
    for code, d in (raw.get("demographics") or {}).items():
        where = f"demographics.{code}"
        claim(str(code), where)
        zh, en = _labels(d, where, errors)
        cats = {}
        for value, lab in (d.get("categories") or {}).items():
            try:
                cats[int(value)] = {"zh": str(lab["zh"]), "en": str(lab["en"])}
            except (KeyError, TypeError, ValueError):
                errors.append(f"{where}.categories.{value}: needs an integer code with 'zh' and 'en' labels")
        if not cats:
            errors.append(f"{where}: no categories")
        demographics[str(code)] = Demographic(str(code), zh, en, tuple(map(str, _as_list(d.get("headers")))), cats)

    # tree
    idx = raw.get("index") or {}
    claim(str(idx.get("code", "")), "index")
    placed: dict[str, str] = {}
    defined_items = {str(c) for c in (raw.get("items") or {})}

    def build_indicator(entry: dict, where: str) -> Node:
        code = str(entry.get("code", ""))
        zh, en = _labels(entry, where, errors)
        claim(code, where)
        item_weights = entry.get("items") or {}
        if not item_weights:
            errors.append(f"{where} ({code}): a second-level indicator needs 'items'")
        for item in item_weights:
            item = str(item)
            if item not in defined_items:
                errors.append(f"{where} ({code}): item {item!r} is not defined under 'items'")
            if item in placed:
                errors.append(f"{where} ({code}): item {item!r} is already in branch {placed[item]}")
            else:
                placed[item] = code
        weights = _check_weights(item_weights, f"{where} ({code}) items", errors)
        return Node(code, zh, en, 2, weights)

    dims = []
    for i, d in enumerate(_as_list(raw.get("tree"))):
        where = f"tree[{i}]"
        code = str(d.get("code", ""))
        zh, en = _labels(d, where, errors)
        claim(code, where)
        children = tuple(build_indicator(c, f"{where}.children[{j}]") for j, c in enumerate(_as_list(d.get("children"))))
        if not children:
            errors.append(f"{where} ({code}): a first-level indicator needs 'children'")
        weights = _check_weights({c.code: cd.get("weight") for c, cd in zip(children, _as_list(d.get("children")))},
                                 f"{where} ({code}) children", errors)
        dims.append((Node(code, zh, en, 1, weights, children), d.get("weight")))
    if not dims:
        errors.append("tree: no first-level indicators")
    top_weights = _check_weights({n.code: w for n, w in dims}, "tree (first-level)", errors)
    izh, ien = _labels(idx, "index", errors)
    tree = Node(str(idx.get("code", "INDEX")), izh, ien, 0, top_weights, tuple(n for n, _ in dims))

    for code, item in items.items():
        if code not in placed and not item.auxiliary:
            errors.append(f"items.{code}: not in the indicator tree (mark it 'auxiliary: true' if intended)")
        if code in placed and item.auxiliary:
            errors.append(f"items.{code}: marked auxiliary but placed in branch {placed[code]}")

    # cities
    cities: dict[str, City] = {}
    city_names: dict[str, str] = {}
    for i, c in enumerate(_as_list(raw.get("cities"))):
        where = f"cities[{i}]"
        code = str(c.get("code", ""))
        if not code:
            errors.append(f"{where}: missing 'code'")
            continue
        claim(code, where)
        zh, en = _labels(c, where, errors)
        aliases = tuple(map(str, _as_list(c.get("aliases"))))
        for name in (code, zh, en, *aliases):
            key = normalize_header(name)
            if key in city_names and city_names[key] != code:
                errors.append(f"{where}: name {name!r} also names city {city_names[key]}")
            city_names[key] = code
        cities[code] = City(code, zh, en, aliases)
    if not cities:
        errors.append("cities: no cities")

    # headers must be unambiguous
    header_owner: dict[str, str] = {}
    for table, kind in ((fields, "fields"), (demographics, "demographics"), (items, "items")):
        for code, entry in table.items():
            for h in {normalize_header(x) for x in (code, *entry.headers)}:
                if h in header_owner and header_owner[h] != code:
                    errors.append(f"{kind}.{code}: header {h!r} is also claimed by {header_owner[h]}")
                header_owner.setdefault(h, code)

    pdata = raw.get("personal_data") or {}
    header_patterns, value_patterns = [], []
    for key, bucket in (("header_patterns", header_patterns), ("value_patterns", value_patterns)):
        for pat in _as_list(pdata.get(key)):
            try:
                bucket.append(re.compile(str(pat)))
            except re.error as exc:
                errors.append(f"personal_data.{key}: bad regular expression {pat!r}: {exc}")
    id_card = pdata.get("id_card", False)
    if not isinstance(id_card, bool):
        errors.append(f"personal_data.id_card: must be true or false, got {id_card!r}")
        id_card = False
    names_pattern = None
    names = pdata.get("names")
    if names is not None:
        surnames, titles = _as_list((names or {}).get("surnames")), _as_list((names or {}).get("titles"))
        bad = [x for x in surnames + titles if not (isinstance(x, str) and x and all("\u4e00" <= ch <= "\u9fff" for ch in x))]
        if not surnames or bad:
            errors.append("personal_data.names: give `surnames` (and optionally `titles`) as lists of Chinese "
                          f"characters{f'; not Chinese characters: {bad!r}' if bad else ''}")
        else:
            given = "[\u4e00-\u9fff]{1,2}"
            ending = "|".join([given, *map(re.escape, sorted(titles, key=len, reverse=True))])
            heads = "|".join(map(re.escape, sorted(surnames, key=len, reverse=True)))
            names_pattern = re.compile(f"^(?:{heads})(?:{ending})$")

    min_valid = _count_setting(raw, "min_valid_per_city", 0, errors)
    min_cell = _count_setting(raw, "min_cell", 30, errors)

    weighting = raw.get("weighting") or {}
    if weighting:
        by = weighting.get("by", "city")
        if by not in fields and by not in demographics:
            errors.append(f"weighting.by: {by!r} is not a field or demographic")
        margins = weighting.get("margins") or {}
        if not margins:
            errors.append("weighting.margins: no margin variables")
        for name, parts in margins.items():
            for part in _as_list(parts):
                if part not in demographics:
                    errors.append(f"weighting.margins.{name}: {part!r} is not a demographic")
        if not weighting.get("margins_file"):
            errors.append("weighting.margins_file: missing")
        method = str(weighting.get("method", "raking"))
        if method not in WEIGHTING_METHODS:
            errors.append(f"weighting.method: {method!r} is not one of {', '.join(WEIGHTING_METHODS)}")
        elif method == "poststratify" and len(margins) != 1:
            errors.append(f"weighting.method: poststratify uses one margin (crossed cells), got {len(margins)}")
        fallback = weighting.get("fallback") or []
        if not isinstance(fallback, list):
            errors.append("weighting.fallback: must be a list of margin lists, tried in order")
            fallback = []
        for i, option in enumerate(fallback):
            for name in _as_list(option):
                if str(name) not in margins:
                    errors.append(f"weighting.fallback[{i}]: {name!r} is not one of the margins "
                                  f"({', '.join(map(str, margins))})")
        weighting = {"by": by, "method": method, "margins_file": str(weighting.get("margins_file", "")),
                     "margins": {str(k): [str(x) for x in _as_list(v)] for k, v in margins.items()},
                     "fallback": [[str(x) for x in _as_list(option)] for option in fallback]}

    ahp = _ahp_section(raw.get("ahp") or {}, tree, errors)
    structural = _structural_section(raw.get("structural_model") or {}, items, errors)
    composite = raw.get("composite") or {}
    if composite:
        sizes = [str(c) for c in _as_list(composite.get("sizes"))]
        if not composite.get("sizes_file"):
            errors.append("composite.sizes_file: missing")
        if not sizes:
            errors.append("composite.sizes: name at least one size column (e.g. adult_population)")
        composite = {"sizes_file": str(composite.get("sizes_file", "")), "sizes": sizes}

    if errors:
        raise CodebookError(str(path), errors)

    return Codebook(
        path=str(path),
        sha256=hashlib.sha256(blob).hexdigest(),
        title={"zh": str((raw.get("title") or {}).get("zh", "")), "en": str((raw.get("title") or {}).get("en", ""))},
        region={k: str(v) for k, v in (raw.get("region") or {"code": "region", "zh": "", "en": ""}).items()},
        min_valid_per_city=min_valid,
        min_cell=min_cell,
        fields=fields,
        scales=scales,
        items=items,
        tree=tree,
        demographics=demographics,
        cities=cities,
        personal_header_patterns=tuple(header_patterns),
        personal_value_patterns=tuple(value_patterns),
        personal_id_card=id_card,
        personal_names=names_pattern,
        personal_surnames=tuple(sorted({str(x) for x in _as_list((pdata.get("names") or {}).get("surnames"))},
                                       key=len, reverse=True)) if names_pattern is not None else (),
        weighting=weighting,
        ahp=ahp,
        composite=composite,
        structural=structural,
        raw=raw,
    )


def _structural_section(section: dict, items: dict, errors: list[str]) -> dict:
    """The PLS path model: ``blocks`` (LV → labels, items, optional mode A/B), ``paths`` (target LV →
    source LVs), ``scheme`` and the ``index`` block. Checked for unknown items, items used twice,
    unknown LVs and cycles."""
    if not section:
        return {}
    where = "structural_model"
    blocks, labels, modes = {}, {}, {}
    for lv, entry in (section.get("blocks") or {}).items():
        entry = entry or {}
        zh, en = _labels(entry, f"{where}.blocks.{lv}", errors)
        block = [str(i) for i in _as_list(entry.get("items"))]
        for item in block:
            if item not in items:
                errors.append(f"{where}.blocks.{lv}: item {item!r} is not defined under 'items'")
        blocks[str(lv)], labels[str(lv)] = block, (zh, en)
        modes[str(lv)] = str(entry.get("mode", "A")).upper()
    paths = {str(k): [str(x) for x in _as_list(v)] for k, v in (section.get("paths") or {}).items()}
    scheme = str(section.get("scheme", "path"))
    index = str(section.get("index", ""))
    if not blocks:
        errors.append(f"{where}.blocks: no blocks")
        return {}
    if index not in blocks:
        errors.append(f"{where}.index: {index!r} is not one of the blocks {list(blocks)}")
    from .pls import SCHEMES, PLSError, PLSModel

    if scheme not in SCHEMES:
        errors.append(f"{where}.scheme: {scheme!r} is not one of {SCHEMES}")
    try:
        PLSModel.specify(blocks, paths, modes)
    except PLSError as exc:
        errors.append(f"{where}: {exc}")
    return {"code": str(section.get("code", "PLS")), "zh": str(section.get("zh", "")), "en": str(section.get("en", "")),
            "blocks": blocks, "labels": labels, "modes": modes, "paths": paths, "scheme": scheme, "index": index}


def _fraction(value: Any) -> float:
    """A judgement: a number or a fraction written as ``"1/3"``."""
    if isinstance(value, str) and "/" in value:
        num, den = value.split("/", 1)
        return float(num) / float(den)
    return float(value)


def _ahp_section(section: dict, tree: Node, errors: list[str]) -> dict:
    """Pairwise-comparison matrices per node (Saaty's 1–9 scale): square, positive, 1 on the
    diagonal and reciprocal (``a_ji = 1 / a_ij``), rows and columns in the order given by ``order``
    (default: the node's children in tree order)."""
    nodes = {tree.code: tree}
    for dim in tree.children:
        nodes[dim.code] = dim
        nodes.update({ind.code: ind for ind in dim.children})
    out = {}
    if not isinstance(section, dict):
        errors.append("ahp: must map node codes to {order, matrix}")
        return out
    for code, entry in section.items():
        where = f"ahp.{code}"
        node = nodes.get(str(code))
        if node is None:
            errors.append(f"{where}: {code!r} is not a node of the tree")
            continue
        if not isinstance(entry, dict) or "matrix" not in entry:
            errors.append(f"{where}: needs 'matrix' (and optionally 'order')")
            continue
        order = tuple(map(str, _as_list(entry.get("order")))) or tuple(node.weights)
        if sorted(order) != sorted(node.weights):
            errors.append(f"{where}.order: {list(order)} must list the children of {code} {list(node.weights)}")
            continue
        rows = _as_list(entry["matrix"])
        n = len(order)
        if len(rows) != n or any(len(_as_list(r)) != n for r in rows):
            errors.append(f"{where}.matrix: must be {n} × {n} (one row and column per child)")
            continue
        try:
            matrix = [[_fraction(v) for v in _as_list(r)] for r in rows]
        except (TypeError, ValueError, ZeroDivisionError):
            errors.append(f"{where}.matrix: judgements must be numbers or fractions like 1/3")
            continue
        bad = False
        for i in range(n):
            if abs(matrix[i][i] - 1) > 1e-9:
                errors.append(f"{where}.matrix[{i}][{i}]: the diagonal must be 1, got {rows[i][i]!r}")
                bad = True
            for j in range(n):
                if matrix[i][j] <= 0:
                    errors.append(f"{where}.matrix[{i}][{j}]: judgements must be positive, got {rows[i][j]!r}")
                    bad = True
                elif j > i and abs(matrix[i][j] * matrix[j][i] - 1) > 1e-3:
                    errors.append(f"{where}.matrix[{j}][{i}]: {rows[j][i]!r} is not the reciprocal of "
                                  f"matrix[{i}][{j}] = {rows[i][j]!r} ({order[i]} vs {order[j]})")
                    bad = True
        if not bad:
            out[str(code)] = (order, matrix)
    return out
