"""What each column of the report's tables means, in Chinese and English: the words of the notes
sheet of ``tables.xlsx`` and the comments on its column names.

A column is described by ``(label, definition, unit)``; the unit is a key of :data:`UNITS`, which
also fixes how a spreadsheet shows the number (:data:`UNIT_FORMATS`). :data:`COLUMNS` holds the
meaning a column name has in every table; :data:`TABLE_COLUMNS` the tables where the same name
means something else (``se`` of a rate is a proportion, of a score in points). Columns named after
a city code (``450100``), a city's rank (``rank_450100``) or an indicator code (``CSI``, ``S``)
are described by pattern from the codebook.
"""
from __future__ import annotations

import re

__all__ = ["COLUMNS", "TABLE_COLUMNS", "UNITS", "UNIT_FORMATS", "WORDS", "describe", "unit_of", "number_format"]

#: Unit key → the unit as a reader reads it.
UNITS = {
    "zh": {"points": "分（0–100）", "points_diff": "分", "proportion": "比例（0–1，表中按百分数显示）",
           "interviews": "份", "cities": "个", "items": "个", "rank": "名（1 = 最好）", "rank_stat": "名（1 = 最好）",
           "p": "概率（0–1）", "coef": "系数（无单位）", "ratio": "倍", "stat": "统计量（无单位）", "year": "年",
           "weight": "权重（同一上级指标下合计为 1）", "code": "代码", "text": "文字", "bool": "是否（TRUE 为是，FALSE 为否）",
           "measure": "得分为分（0–100），满意率为百分数（0–100）"},
    "en": {"points": "points (0–100)", "points_diff": "points", "proportion": "proportion (0–1, shown as a percentage)",
           "interviews": "interviews", "cities": "cities", "items": "items", "rank": "rank (1 = best)",
           "rank_stat": "rank (1 = best)", "p": "probability (0–1)", "coef": "coefficient (no unit)", "ratio": "ratio",
           "stat": "test statistic (no unit)", "year": "year", "weight": "weight (sums to 1 within a parent)",
           "code": "code", "text": "text", "bool": "logical (TRUE = yes, FALSE = no)",
           "measure": "points (0–100) for a score, percent (0–100) for a rate"},
}

#: Unit key → the Excel number format showing it (as many places as the report prints).
UNIT_FORMATS = {"points": "0.0", "points_diff": "0.0", "proportion": "0.0%", "interviews": "0", "cities": "0",
                "items": "0", "rank": "0", "rank_stat": "0.0", "p": "0.000", "coef": "0.000", "ratio": "0.00",
                "stat": "0.00", "year": "0", "weight": "0.000", "measure": "0.0"}

COLUMNS: dict[str, dict[str, tuple[str, str, str]]] = {
    "zh": {
        "city": ("城市代码", "城市的行政区划代码；“province”为全区合计行", "code"),
        "name": ("城市", "城市名称；全区合计行为“全区”", "text"),
        "unit": ("城市代码", "城市的行政区划代码", "code"),
        "n": ("样本量", "有效问卷数", "interviews"),
        "estimate": ("得分", "加权估计的得分", "points"),
        "se": ("标准误", "估计值的标准误，考虑了加权和抽样设计", "points_diff"),
        "ci_low": ("95%置信区间下限", "估计值的 95% 置信区间的下端", "points"),
        "ci_high": ("95%置信区间上限", "估计值的 95% 置信区间的上端", "points"),
        "node": ("指标代码", "指标体系中的指标代码，名称见指标体系文件；层级见“level”列", "code"),
        "level": ("指标层级", "0 为总指数，1 为一级指标（维度），2 为二级指标", "code"),
        "units": ("城市数", "参与汇总的城市个数", "cities"),
        "year": ("年份", "测评年份", "year"),
        "dimension": ("一级指标代码", "一级指标（维度）的代码", "code"),
        "indicator": ("二级指标代码", "二级指标的代码，名称见指标体系文件", "code"),
        "p": ("p 值（未校正）", "检验差异为零的双侧 p 值，未作多重比较校正", "p"),
        "p_holm": ("校正后 p 值", "按 Holm 逐步法作多重比较校正后的 p 值；小于 0.05 为显著", "p"),
        "significant": ("是否显著", "校正后 p 值小于 0.05 时为是", "bool"),
        "suppressed": ("是否不予公布", "该格样本少于公布门槛（指标体系文件规定的最少人数）时为是，报告中显示为“—”", "bool"),
        "previous": ("上年得分", "比较基期（上一年）的得分", "points"),
        "current": ("本年得分", "本年的得分", "points"),
        "change": ("变化", "本年得分减基期得分，按未四舍五入的得分计算", "points_diff"),
        "previous_year": ("基期年份", "与之比较的上一年份", "year"),
        "z": ("检验统计量", "变化除以其标准误", "stat"),
        "flag": ("说明", "样本量或加权方式的说明；空白表示无", "text"),
        "label": ("指标名称", "二级指标的名称", "text"),
    },
    "en": {
        "city": ("City code", "the city's administrative code; \"province\" marks the provincial row", "code"),
        "name": ("City", "the city's name; the provincial row reads \"Province\"", "text"),
        "unit": ("City code", "the city's administrative code", "code"),
        "n": ("Interviews", "number of valid interviews", "interviews"),
        "estimate": ("Score", "weighted estimate of the score", "points"),
        "se": ("Standard error", "standard error of the estimate, allowing for the weighting and the sampling design", "points_diff"),
        "ci_low": ("95 % CI, lower", "lower end of the 95 % confidence interval of the estimate", "points"),
        "ci_high": ("95 % CI, upper", "upper end of the 95 % confidence interval of the estimate", "points"),
        "node": ("Indicator code", "code of the indicator in the indicator tree (names in the codebook); its level is in the column \"level\"", "code"),
        "level": ("Level", "0 = the index, 1 = first-level indicator (dimension), 2 = second-level indicator", "code"),
        "units": ("Cities", "number of cities combined", "cities"),
        "year": ("Year", "year of the evaluation", "year"),
        "dimension": ("Dimension code", "code of the first-level indicator (dimension)", "code"),
        "indicator": ("Indicator code", "code of the second-level indicator (names in the codebook)", "code"),
        "p": ("p (unadjusted)", "two-sided p-value of a zero difference, not adjusted for multiple comparisons", "p"),
        "p_holm": ("Adjusted p", "p-value adjusted for multiple comparisons (Holm's step-down method); below 0.05 is significant", "p"),
        "significant": ("Significant", "TRUE when the adjusted p-value is below 0.05", "bool"),
        "suppressed": ("Withheld", "TRUE when the cell rests on fewer respondents than the codebook's threshold; the report shows \"—\"", "bool"),
        "previous": ("Previous score", "the score in the base (previous) year", "points"),
        "current": ("Current score", "the score this year", "points"),
        "change": ("Change", "this year's score minus the base year's, from unrounded scores", "points_diff"),
        "previous_year": ("Base year", "the year compared with", "year"),
        "z": ("z", "the change divided by its standard error", "stat"),
        "flag": ("Note", "note on the sample size or the weighting; empty when none", "text"),
        "label": ("Indicator", "name of the second-level indicator", "text"),
    },
}

TABLE_COLUMNS: dict[str, dict[tuple[str, str], tuple[str, str, str]]] = {
    "zh": {
        # ranking
        ("ranking", "estimate"): ("指数", "城市的消费者满意度指数", "points"),
        ("ranking", "rank"): ("名次", "按指数从高到低的名次（点估计）", "rank"),
        ("ranking", "rank_lower"): ("排名置信集上端（最好名次）", "排名置信集中最好的名次：以 95% 的把握，所有城市的真实名次同时落在各自的置信集之内", "rank"),
        ("ranking", "rank_upper"): ("排名置信集下端（最差名次）", "排名置信集中最差的名次", "rank"),
        ("ranking", "tier"): ("分组", "按排名置信集分组：top 为领先，middle 为居中，bottom 为靠后", "code"),
        ("ranking", "letters"): ("组别", "字母相同的两个城市之间差异不显著（全部城市两两比较，同时校正）；报告中以甲乙丙…显示", "code"),
        ("ranking", "vs_average"): ("与全区平均之差", "城市指数减全部城市的平均指数", "points_diff"),
        ("ranking", "p_holm"): ("校正后 p 值", "城市与全区平均之差的 p 值，经多重比较校正", "p"),
        ("ranking", "position"): ("与全区平均相比", "above 为高于平均，below 为低于平均，not different 为无显著差异（经多重比较校正）", "code"),
        # scores
        ("scores", "se"): ("指数标准误", "指数的标准误，考虑了加权和抽样设计", "points_diff"),
        ("scores", "ci_low"): ("指数 95%置信区间下限", "指数的 95% 置信区间的下端", "points"),
        ("scores", "ci_high"): ("指数 95%置信区间上限", "指数的 95% 置信区间的上端", "points"),
        # indicators
        ("indicators", "items"): ("题目数", "该二级指标包含的题目数", "items"),
        ("indicators", "province"): ("全区得分", "该二级指标的全区得分", "points"),
        ("indicators", "province_se"): ("全区得分标准误", "全区得分的标准误", "points_diff"),
        ("indicators", "few_items"): ("题目少于 3 个", "题目少于 3 个时为是：一致性无法充分检验，不宜单独用于城市间比较", "bool"),
        # rates
        ("rates", "dimension"): ("维度代码", "一级指标（维度）代码；“overall”为三个维度合计的总体满意率", "code"),
        ("rates", "rate"): ("满意率", "五级题中回答 4 分或 5 分（满意或非常满意）的比例", "proportion"),
        ("rates", "se"): ("满意率标准误", "满意率的标准误", "proportion"),
        ("rates", "ci_low"): ("满意率 95%置信区间下限", "满意率的 95% 置信区间的下端", "proportion"),
        ("rates", "ci_high"): ("满意率 95%置信区间上限", "满意率的 95% 置信区间的上端", "proportion"),
        ("rates", "units"): ("城市数", "全区合计行中参与汇总的城市个数；城市行为空", "cities"),
        # plan targets
        ("targets", "key"): ("目标编号", "规划目标文件中的条目编号（从 0 起）", "code"),
        ("targets", "unit"): ("地区代码", "城市的行政区划代码；“province”为全区", "code"),
        ("targets", "measure"): ("度量", "score 为得分，rate 为满意率", "code"),
        ("targets", "of"): ("指标代码", "得分目标为指数、维度或二级指标的代码；满意率目标为 overall（总体）、维度或题目的代码", "code"),
        ("targets", "threshold"): ("目标值", "目标要求达到的最低值", "measure"),
        ("targets", "target_year"): ("目标年份", "规划要求达到目标的年份", "year"),
        ("targets", "source"): ("来源", "设定该目标的规划文件", "text"),
        ("targets", "estimate"): ("本年估计", "本年的估计值（与报告表格一致）", "measure"),
        ("targets", "se"): ("标准误", "本年估计的标准误", "measure"),
        ("targets", "ci_low"): ("95%置信区间下限", "本年估计的 95% 置信区间的下端", "measure"),
        ("targets", "ci_high"): ("95%置信区间上限", "本年估计的 95% 置信区间的上端", "measure"),
        ("targets", "probability"): ("达成概率", "按重复权重（再校准的自助法）计算的真实值不低于目标值的概率", "p"),
        ("targets", "normal_probability"): ("达成概率（正态近似）", "按估计值和标准误的正态近似计算的同一概率，供核对", "p"),
        ("targets", "verdict"): ("判断", "met 为已达成（达成概率不低于置信水平），not_met 为未达成（不高于 1 减置信水平），undecided 为尚难判断", "code"),
        # regions and groups
        ("regions", "region"): ("区域代码", "区域的代码，名称及所含城市见指标体系文件", "code"),
        ("regions", "estimate"): ("得分", "区内各市得分按规模加权的综合得分", "points"),
        ("groups", "group"): ("人群划分", "人口背景变量的代码（如 sex 为性别，age_group 为年龄组）", "code"),
        ("groups", "category"): ("类别代码", "该人群划分下的类别代码，名称见指标体系文件", "code"),
        ("groups", "estimate"): ("指数", "该类人群的消费者满意度指数（全区加权样本）", "points"),
        # trends and changes
        ("trend_province", "estimate"): ("全区得分", "该年该指标的全区得分", "points"),
        ("trend_cities", "estimate"): ("指数", "该年该城市的消费者满意度指数", "points"),
        ("trend_changes", "previous"): ("上年全区指数", "上一年的全区指数", "points"),
        ("trend_changes", "current"): ("本年全区指数", "该年的全区指数", "points"),
        ("trend_changes", "change"): ("变化", "该年全区指数减上一年全区指数", "points_diff"),
        ("trend_changes", "se"): ("变化的标准误", "变化的标准误", "points_diff"),
        ("trend_changes", "ci_low"): ("变化 95%置信区间下限（未校正）", "变化的 95% 置信区间的下端，未作多重比较校正", "points_diff"),
        ("trend_changes", "ci_high"): ("变化 95%置信区间上限（未校正）", "变化的 95% 置信区间的上端，未作多重比较校正", "points_diff"),
        ("change", "previous"): ("上年指数", "城市上一年的消费者满意度指数", "points"),
        ("change", "current"): ("本年指数", "城市本年的消费者满意度指数", "points"),
        ("change", "se"): ("变化的标准误", "变化的标准误", "points_diff"),
        ("change", "ci_low"): ("变化 95%置信区间下限（未校正）", "变化的 95% 置信区间的下端，未作多重比较校正", "points_diff"),
        ("change", "ci_high"): ("变化 95%置信区间上限（未校正）", "变化的 95% 置信区间的上端，未作多重比较校正", "points_diff"),
        # priorities
        ("priorities", "dimension"): ("一级指标", "二级指标所属的一级指标（维度）名称", "text"),
        ("priorities", "importance"): ("重要性", "该指标对“总体满意度”一题的解释份额（同一城市各指标合计为 1）", "proportion"),
        ("priorities", "performance"): ("表现", "该指标在本市的得分", "points"),
        ("priorities", "quadrant"): ("分类", "concentrate 为重点改进，keep 为继续保持，low 为次要改进，overkill 为相对次要的优势，too_few 为样本不足、未作分析", "code"),
        ("priorities", "priority"): ("改进优先序", "重点改进指标按重要性从高到低的序号（1 为最优先）；其他指标为空", "rank"),
        ("priorities", "r2"): ("解释度", "各二级指标合起来对“总体满意度”的解释度（决定系数）", "proportion"),
        ("priorities", "n"): ("样本量", "回答了全部相关题目的问卷数", "interviews"),
        # precision
        ("precision", "kish_deff"): ("加权造成的设计效应", "权重不等使方差增大的倍数", "ratio"),
        ("precision", "deff"): ("指数的实际设计效应", "指数估计在抽样设计与加权下的方差与简单随机抽样方差之比", "ratio"),
        ("precision", "effective_n"): ("有效样本量", "样本量除以指数的实际设计效应", "interviews"),
        ("precision", "moe_proportion"): ("比例误差范围（±）", "按实际设计效应计算的比例的误差范围（95% 置信水平，50% 时最大）", "proportion"),
        ("precision", "moe_index"): ("指数误差范围（±分）", "指数 95% 置信区间的半宽", "points_diff"),
        ("precision", "meets"): ("精度达标", "比例误差范围不超过 ±5% 时为是", "bool"),
        ("precision", "minimum"): ("最低样本量", "事先规定的每市最低样本量，仅作参考", "interviews"),
        # reliability
        ("reliability", "dimension"): ("一级指标", "一级指标（维度）名称", "text"),
        ("reliability", "k"): ("题目数", "该维度的题目数", "items"),
        ("reliability", "n"): ("样本量", "回答了该维度全部题目的问卷数", "interviews"),
        ("reliability", "alpha"): ("α 系数", "克龙巴赫 α 信度系数（加权）；不低于 0.70 表示题目测量一致", "coef"),
        ("reliability", "ci_low"): ("α 系数 95%置信区间下限", "α 系数的 95% 置信区间（费尔特法）的下端", "coef"),
        ("reliability", "ci_high"): ("α 系数 95%置信区间上限", "α 系数的 95% 置信区间（费尔特法）的上端", "coef"),
        ("reliability", "boot_low"): ("α 自助区间下限", "由重新加权的自助样本得到的 α 系数 95% 区间的下端", "coef"),
        ("reliability", "boot_high"): ("α 自助区间上限", "由重新加权的自助样本得到的 α 系数 95% 区间的上端", "coef"),
        ("reliability", "std_alpha"): ("标准化 α 系数", "按题目间相关系数计算的 α 系数", "coef"),
        ("reliability", "lambda6"): ("λ6 信度系数", "格特曼 λ6 信度系数", "coef"),
        ("reliability", "omega_total"): ("ω（总）", "麦克唐纳 ω 总信度系数，考虑各题目载荷的差异", "coef"),
        ("reliability", "omega_h"): ("ω（层次）", "层次 ω 系数；无法估计时为空", "coef"),
        ("reliability", "weakest_item"): ("最弱题目", "与同维度其余题目相关最低的题目", "text"),
        ("reliability", "weakest_r_drop"): ("最弱题目的修正相关", "最弱题目与同维度其余题目合计分的相关系数", "coef"),
        ("reliability", "kmo"): ("取样适切性", "取样适切性统计量；不低于 0.60 表示适合合并分析", "coef"),
        ("reliability", "ave"): ("平均提取方差", "各题目方差中由该维度解释的平均比例；不低于 0.50 为宜", "coef"),
        ("reliability", "max_htmt"): ("最大区分效度比", "与其他维度的异质—单质相关比的最大值；低于 0.85 表示维度之间可以区分", "coef"),
        ("reliability", "htmt_with"): ("区分效度比最大的维度", "上一列所对应的另一维度", "text"),
        ("reliability", "flags"): ("提示", "未达标准的指标代码（如 ave 为平均提取方差偏低）；空白表示全部达标", "code"),
        ("reliability", "verdict"): ("结论", "对该维度信度的文字结论", "text"),
        # quality
        ("quality", "straightlining_rate"): ("直线作答比例", "对所有五级题给出同一答案的问卷所占比例", "proportion"),
        ("quality", "speeding_rate"): ("过快作答比例", "访问时长不足中位数 40% 的问卷所占比例", "proportion"),
        ("quality", "item_nonresponse_rate"): ("题目缺答率", "应答题目中未回答的比例", "proportion"),
        ("quality", "dont_know_rate"): ("回答“不知道”的比例", "应答题目中回答“不知道”的比例", "proportion"),
        ("quality", "worst_item"): ("缺答最多的题目", "缺答率最高的题目代码", "code"),
        ("quality", "worst_item_nonresponse"): ("该题缺答率", "缺答最多的题目的缺答率", "proportion"),
        # weights
        ("weights", "node"): ("上级指标代码", "上级指标的代码", "code"),
        ("weights", "child"): ("指标代码", "下级指标的代码", "code"),
        ("weights", "used"): ("采用权重", "本报告采用的指标体系规定的专家权重", "weight"),
        ("weights", "equal"): ("等权", "同一上级指标下各指标权重相等", "weight"),
        ("weights", "ahp"): ("层次分析法权重", "按层次分析法（特征向量法）得到的权重", "weight"),
        ("weights", "entropy"): ("熵权法权重", "按各指标在城市间的离散程度（熵权法）得到的权重", "weight"),
        ("weights", "pca"): ("主成分法权重", "按主成分分析得到的权重", "weight"),
        # rank uncertainty
        ("rank_uncertainty", "nominal_rank"): ("公布名次", "按公布的指数得到的名次", "rank"),
        ("rank_uncertainty", "mean_rank"): ("名次均值", "模拟中名次的平均值", "rank_stat"),
        ("rank_uncertainty", "median_rank"): ("名次中位数", "模拟中名次的中位数", "rank_stat"),
        ("rank_uncertainty", "p05"): ("名次 5% 分位数", "模拟中名次的 5% 分位数", "rank_stat"),
        ("rank_uncertainty", "p95"): ("名次 95% 分位数", "模拟中名次的 95% 分位数", "rank_stat"),
        ("rank_uncertainty", "mean_abs_shift"): ("名次平均变动", "模拟名次与公布名次之差的绝对值的平均", "rank_stat"),
        ("rank_uncertainty", "p025"): ("名次 95% 范围上端（2.5% 分位数）", "模拟中名次的 2.5% 分位数", "rank_stat"),
        ("rank_uncertainty", "p975"): ("名次 95% 范围下端（97.5% 分位数）", "模拟中名次的 97.5% 分位数", "rank_stat"),
        # sensitivity
        ("sensitivity", "factor"): ("不确定性来源", "scheme 为权重方案，weights 为权重扰动，aggregation 为汇总方式，missing 为缺失值规则，sampling 为抽样误差", "code"),
        ("sensitivity", "first_order"): ("单独贡献", "名次变动方差中由该来源单独解释的比例（方差分解的一阶指数；估计误差可使其略小于 0）", "coef"),
        ("sensitivity", "total"): ("总贡献", "名次变动方差中与该来源有关的比例（方差分解的总指数）", "coef"),
        # model
        ("model_paths", "from"): ("自", "路径起点的潜变量代码", "code"),
        ("model_paths", "to"): ("至", "路径终点的潜变量代码", "code"),
        ("model_paths", "estimate"): ("路径系数", "偏最小二乘路径模型的标准化路径系数", "coef"),
        ("model_paths", "boot_mean"): ("自助均值", "重新加权的自助样本中路径系数的平均值", "coef"),
        ("model_paths", "se"): ("标准误", "路径系数的自助标准误", "coef"),
        ("model_paths", "t"): ("检验统计量", "路径系数除以其标准误", "stat"),
        ("model_paths", "ci_low"): ("95%区间下限", "路径系数的自助 95% 区间的下端", "coef"),
        ("model_paths", "ci_high"): ("95%区间上限", "路径系数的自助 95% 区间的上端", "coef"),
    },
    "en": {
        ("ranking", "estimate"): ("Index", "the city's consumer satisfaction index", "points"),
        ("ranking", "rank"): ("Rank", "rank by the index, highest first (point estimate)", "rank"),
        ("ranking", "rank_lower"): ("Rank set, best", "best rank in the rank confidence set: with 95 % confidence every city's true rank lies in its set, all cities at once", "rank"),
        ("ranking", "rank_upper"): ("Rank set, worst", "worst rank in the rank confidence set", "rank"),
        ("ranking", "tier"): ("Tier", "by the rank confidence sets: top = leading, middle, bottom = trailing", "code"),
        ("ranking", "letters"): ("Letters", "two cities sharing a letter do not differ significantly (all pairs, adjusted together)", "code"),
        ("ranking", "vs_average"): ("Difference from the average", "the city's index minus the average of all cities", "points_diff"),
        ("ranking", "p_holm"): ("Adjusted p", "p-value of the difference from the average, adjusted for multiple comparisons", "p"),
        ("ranking", "position"): ("Against the average", "above, below or not different from the average (adjusted for multiple comparisons)", "code"),
        ("scores", "se"): ("Index SE", "standard error of the index, allowing for the weighting and the design", "points_diff"),
        ("scores", "ci_low"): ("Index 95 % CI, lower", "lower end of the index's 95 % confidence interval", "points"),
        ("scores", "ci_high"): ("Index 95 % CI, upper", "upper end of the index's 95 % confidence interval", "points"),
        ("indicators", "items"): ("Items", "number of items of the indicator", "items"),
        ("indicators", "province"): ("Province", "the indicator's provincial score", "points"),
        ("indicators", "province_se"): ("Province SE", "standard error of the provincial score", "points_diff"),
        ("indicators", "few_items"): ("Fewer than 3 items", "TRUE when the indicator has fewer than 3 items: not to be used alone to compare cities", "bool"),
        ("rates", "dimension"): ("Dimension code", "code of the dimension; \"overall\" = the three dimensions together", "code"),
        ("rates", "rate"): ("Satisfaction rate", "share of answers 4 or 5 (satisfied or very satisfied) to the five-point items", "proportion"),
        ("rates", "se"): ("Rate SE", "standard error of the rate", "proportion"),
        ("rates", "ci_low"): ("Rate 95 % CI, lower", "lower end of the rate's 95 % confidence interval", "proportion"),
        ("rates", "ci_high"): ("Rate 95 % CI, upper", "upper end of the rate's 95 % confidence interval", "proportion"),
        ("rates", "units"): ("Cities", "number of cities combined in the provincial rows; empty for cities", "cities"),
        # plan targets
        ("targets", "key"): ("Target", "the entry of the targets file (numbered from 0)", "code"),
        ("targets", "unit"): ("Area code", "the city's administrative code; \"province\" for the province", "code"),
        ("targets", "measure"): ("Measure", "score, or rate (satisfaction rate)", "code"),
        ("targets", "of"): ("Indicator code", "for a score the index, a dimension or an indicator; for a rate overall, a dimension or an item", "code"),
        ("targets", "threshold"): ("Threshold", "the least value the target asks for", "measure"),
        ("targets", "target_year"): ("Target year", "the year by which the plan asks for it", "year"),
        ("targets", "source"): ("Source", "the plan that set the target", "text"),
        ("targets", "estimate"): ("Estimate", "this year's estimate (as in the report's tables)", "measure"),
        ("targets", "se"): ("Standard error", "the standard error of this year's estimate", "measure"),
        ("targets", "ci_low"): ("95 % CI lower bound", "lower end of the estimate's 95 % confidence interval", "measure"),
        ("targets", "ci_high"): ("95 % CI upper bound", "upper end of the estimate's 95 % confidence interval", "measure"),
        ("targets", "probability"): ("Probability met", "probability that the true value is at least the threshold, from the replicate weights (re-calibrated bootstrap)", "p"),
        ("targets", "normal_probability"): ("Probability met (normal)", "the same probability from the normal approximation with the estimate's SE, for checking", "p"),
        ("targets", "verdict"): ("Verdict", "met (probability at least the confidence), not_met (at most one minus it), undecided otherwise", "code"),
        ("regions", "region"): ("Region code", "code of the region (names and cities in the codebook)", "code"),
        ("regions", "estimate"): ("Score", "the region's cities' scores combined, weighted by size", "points"),
        ("groups", "group"): ("Grouping", "code of the background variable (sex, age_group, …)", "code"),
        ("groups", "category"): ("Category code", "code of the category (names in the codebook)", "code"),
        ("groups", "estimate"): ("Index", "the group's consumer satisfaction index (province's weighted sample)", "points"),
        ("trend_province", "estimate"): ("Provincial score", "the indicator's provincial score that year", "points"),
        ("trend_cities", "estimate"): ("Index", "the city's consumer satisfaction index that year", "points"),
        ("trend_changes", "previous"): ("Previous index", "the provincial index the year before", "points"),
        ("trend_changes", "current"): ("Index", "the provincial index that year", "points"),
        ("trend_changes", "change"): ("Change", "the year's provincial index minus the previous year's", "points_diff"),
        ("trend_changes", "se"): ("Change SE", "standard error of the change", "points_diff"),
        ("trend_changes", "ci_low"): ("Change 95 % CI, lower (unadjusted)", "lower end of the change's 95 % confidence interval, not adjusted for multiple comparisons", "points_diff"),
        ("trend_changes", "ci_high"): ("Change 95 % CI, upper (unadjusted)", "upper end of the change's 95 % confidence interval, not adjusted for multiple comparisons", "points_diff"),
        ("change", "previous"): ("Previous index", "the city's index last year", "points"),
        ("change", "current"): ("Index", "the city's index this year", "points"),
        ("change", "se"): ("Change SE", "standard error of the change", "points_diff"),
        ("change", "ci_low"): ("Change 95 % CI, lower (unadjusted)", "lower end of the change's 95 % confidence interval, not adjusted for multiple comparisons", "points_diff"),
        ("change", "ci_high"): ("Change 95 % CI, upper (unadjusted)", "upper end of the change's 95 % confidence interval, not adjusted for multiple comparisons", "points_diff"),
        ("priorities", "dimension"): ("Dimension", "name of the dimension the indicator belongs to", "text"),
        ("priorities", "importance"): ("Importance", "the indicator's share of the explained variance of the overall-satisfaction question (sums to 1 within a city)", "proportion"),
        ("priorities", "performance"): ("Performance", "the indicator's score in the city", "points"),
        ("priorities", "quadrant"): ("Quadrant", "concentrate (concentrate here), keep (keep up the good work), low (low priority), overkill (less important strength), too_few (too few interviews to analyse)", "code"),
        ("priorities", "priority"): ("Priority", "order of the indicators to concentrate on, most important first (1); empty for the others", "rank"),
        ("priorities", "r2"): ("R²", "share of the variance of the overall-satisfaction question explained by all indicators together", "proportion"),
        ("priorities", "n"): ("Interviews", "interviews answering every item involved", "interviews"),
        ("precision", "kish_deff"): ("Design effect of the weights", "factor by which unequal weights inflate the variance", "ratio"),
        ("precision", "deff"): ("Observed design effect (index)", "variance of the index under the design and weighting against simple random sampling", "ratio"),
        ("precision", "effective_n"): ("Effective n", "interviews divided by the observed design effect", "interviews"),
        ("precision", "moe_proportion"): ("Margin, proportion (±)", "margin of error of a proportion (95 %, largest at 50 %) at the observed design effect", "proportion"),
        ("precision", "moe_index"): ("Margin, index (± points)", "half-width of the index's 95 % confidence interval", "points_diff"),
        ("precision", "meets"): ("Precise enough", "TRUE when the margin of a proportion is within ±5 %", "bool"),
        ("precision", "minimum"): ("Planned minimum", "the planned minimum of interviews per city, for reference", "interviews"),
        ("reliability", "dimension"): ("Dimension", "name of the dimension", "text"),
        ("reliability", "k"): ("Items", "number of items of the dimension", "items"),
        ("reliability", "n"): ("Interviews", "interviews answering every item of the dimension", "interviews"),
        ("reliability", "alpha"): ("Alpha", "Cronbach's alpha (weighted); 0.70 or more: the items measure one thing consistently", "coef"),
        ("reliability", "ci_low"): ("Alpha 95 % CI, lower", "lower end of alpha's 95 % interval (Feldt)", "coef"),
        ("reliability", "ci_high"): ("Alpha 95 % CI, upper", "upper end of alpha's 95 % interval (Feldt)", "coef"),
        ("reliability", "boot_low"): ("Alpha bootstrap, lower", "lower end of alpha's 95 % interval from re-raked bootstrap replicates", "coef"),
        ("reliability", "boot_high"): ("Alpha bootstrap, upper", "upper end of alpha's 95 % interval from re-raked bootstrap replicates", "coef"),
        ("reliability", "std_alpha"): ("Standardised alpha", "alpha from the items' correlations", "coef"),
        ("reliability", "lambda6"): ("Guttman's lambda 6", "Guttman's lambda 6 reliability", "coef"),
        ("reliability", "omega_total"): ("Omega total", "McDonald's omega total, allowing for unequal loadings", "coef"),
        ("reliability", "omega_h"): ("Omega hierarchical", "omega hierarchical; empty when it cannot be estimated", "coef"),
        ("reliability", "weakest_item"): ("Weakest item", "the item least correlated with the rest of its dimension", "text"),
        ("reliability", "weakest_r_drop"): ("Weakest item, corrected r", "correlation of the weakest item with the sum of the other items", "coef"),
        ("reliability", "kmo"): ("KMO", "Kaiser–Meyer–Olkin measure of sampling adequacy; 0.60 or more: suitable for combining", "coef"),
        ("reliability", "ave"): ("AVE", "average variance extracted; 0.50 or more is desirable", "coef"),
        ("reliability", "max_htmt"): ("Largest HTMT", "largest heterotrait–monotrait ratio with another dimension; below 0.85: the dimensions are distinct", "coef"),
        ("reliability", "htmt_with"): ("HTMT with", "the dimension of the largest HTMT", "text"),
        ("reliability", "flags"): ("Flags", "criteria not met (e.g. ave = low average variance extracted); empty when all are met", "code"),
        ("reliability", "verdict"): ("Verdict", "the verdict on the dimension's reliability, in words", "text"),
        ("quality", "straightlining_rate"): ("Straight-lining", "share of interviews giving the same answer to every five-point item", "proportion"),
        ("quality", "speeding_rate"): ("Speeding", "share of interviews shorter than 40 % of the median", "proportion"),
        ("quality", "item_nonresponse_rate"): ("Item non-response", "share of items left unanswered", "proportion"),
        ("quality", "dont_know_rate"): ("\"Don't know\"", "share of items answered \"don't know\"", "proportion"),
        ("quality", "worst_item"): ("Most skipped item", "code of the item with the highest non-response", "code"),
        ("quality", "worst_item_nonresponse"): ("Its non-response", "non-response of the most skipped item", "proportion"),
        ("weights", "node"): ("Parent code", "code of the parent indicator", "code"),
        ("weights", "child"): ("Indicator code", "code of the child indicator", "code"),
        ("weights", "used"): ("Weight used", "the expert weight of the indicator system, used in this report", "weight"),
        ("weights", "equal"): ("Equal", "equal weights within a parent", "weight"),
        ("weights", "ahp"): ("AHP", "weights by the analytic hierarchy process (eigenvector method)", "weight"),
        ("weights", "entropy"): ("Entropy", "weights by the entropy of the indicators across cities", "weight"),
        ("weights", "pca"): ("PCA", "weights from a principal component analysis", "weight"),
        ("rank_uncertainty", "nominal_rank"): ("Published rank", "rank by the published index", "rank"),
        ("rank_uncertainty", "mean_rank"): ("Mean rank", "mean of the simulated ranks", "rank_stat"),
        ("rank_uncertainty", "median_rank"): ("Median rank", "median of the simulated ranks", "rank_stat"),
        ("rank_uncertainty", "p05"): ("Rank, 5th percentile", "5th percentile of the simulated ranks", "rank_stat"),
        ("rank_uncertainty", "p95"): ("Rank, 95th percentile", "95th percentile of the simulated ranks", "rank_stat"),
        ("rank_uncertainty", "mean_abs_shift"): ("Mean rank shift", "mean absolute difference between simulated and published rank", "rank_stat"),
        ("rank_uncertainty", "p025"): ("Rank, 2.5th percentile", "2.5th percentile of the simulated ranks (best end of the 95 % range)", "rank_stat"),
        ("rank_uncertainty", "p975"): ("Rank, 97.5th percentile", "97.5th percentile of the simulated ranks (worst end of the 95 % range)", "rank_stat"),
        ("sensitivity", "factor"): ("Source of uncertainty", "scheme (weight scheme), weights (weight perturbation), aggregation, missing (missing-data rule), sampling (sampling error)", "code"),
        ("sensitivity", "first_order"): ("First order", "Sobol first-order index: share of the variance of rank shifts due to the source alone (estimation error can make it slightly negative)", "coef"),
        ("sensitivity", "total"): ("Total", "Sobol total index: share of the variance of rank shifts involving the source", "coef"),
        ("model_paths", "from"): ("From", "code of the latent variable the path starts from", "code"),
        ("model_paths", "to"): ("To", "code of the latent variable the path leads to", "code"),
        ("model_paths", "estimate"): ("Path", "standardised path coefficient of the PLS path model", "coef"),
        ("model_paths", "boot_mean"): ("Bootstrap mean", "mean of the path over the re-raked bootstrap replicates", "coef"),
        ("model_paths", "se"): ("SE", "bootstrap standard error of the path", "coef"),
        ("model_paths", "t"): ("t", "the path divided by its standard error", "stat"),
        ("model_paths", "ci_low"): ("95 % interval, lower", "lower end of the path's bootstrap 95 % interval", "coef"),
        ("model_paths", "ci_high"): ("95 % interval, upper", "upper end of the path's bootstrap 95 % interval", "coef"),
    },
}

#: Columns named after codes of the codebook, in the tables that have them.
_PATTERNS = {
    "zh": {"city": ("{name}", "{name}的得分", "points"),
           "rank": ("{name}名次", "{name}在全部城市中的名次（1 为得分最高）", "rank"),
           "node": ("{name}", "“{name}”的得分", "points")},
    "en": {"city": ("{name}", "the score of {name}", "points"),
           "rank": ("{name}, rank", "the rank of {name} among all cities (1 = highest score)", "rank"),
           "node": ("{name}", "the score of \"{name}\"", "points")},
}

#: Words of the notes sheet.
WORDS = {
    "zh": {"notes_title": "说明", "sheet": "工作表", "file": "文件", "column": "列名", "label": "名称",
           "definition": "含义", "unit": "单位", "about_key": "项目", "about_value": "内容",
           "title": "报告", "issuer": "发布单位", "issued": "发布日期", "year": "测评年份",
           "version": "测评软件版本", "ingest_version": "数据处理时的软件版本", "codebook": "指标体系文件校验码",
           "input": "原始数据文件校验码",
           "settings": "分析设置", "settings_text": "自助样本 {reps} 组，模拟 {draws} 组，随机数种子 {seed}",
           "cells": "数值", "cells_text": "单元格内保存未四舍五入的数值，按报告的位数显示；空白表示缺失或不予公布",
           "files": "逗号分隔文件", "files_text": "每张表另有一个同名的 .csv 文件（统一码编码，带字节顺序标记），列名与本工作簿相同；是否类数值写作 true/false"},
    "en": {"notes_title": "notes", "sheet": "sheet", "file": "file", "column": "column", "label": "label",
           "definition": "definition", "unit": "unit", "about_key": "item", "about_value": "value",
           "title": "report", "issuer": "issued by", "issued": "date of issue", "year": "year of the evaluation",
           "version": "package version", "ingest_version": "package version at ingest", "codebook": "codebook checksum (SHA-256)",
           "input": "input checksum (SHA-256)",
           "settings": "analysis settings", "settings_text": "{reps} bootstrap replicates, {draws} Monte Carlo draws, seed {seed}",
           "cells": "numbers", "cells_text": "cells hold unrounded values, shown with the report's decimals; empty cells are missing or withheld",
           "files": "CSV files", "files_text": "each sheet is also a CSV file of the same name (UTF-8 with BOM) with the same column names; logical values are written true/false"},
}

#: Where a unit's usual format shows too few places.
_TABLE_FORMATS = {("rates", "se"): "0.00%"}


def _pattern(column: str, codebook) -> tuple[str, str] | None:
    """``(kind, code)`` when a column is named after a city, a city's rank or an indicator."""
    if codebook is None:
        return None
    cities = getattr(codebook, "cities", {}) or {}
    if column in cities:
        return "city", column
    m = re.fullmatch(r"rank_(.+)", column)
    if m and m.group(1) in cities:
        return "rank", m.group(1)
    if any(n.code == column for n in codebook.nodes()):
        return "node", column
    return None


def describe(table: str, column: str, lang: str = "zh", codebook=None) -> tuple[str, str, str]:
    """``(label, definition, unit)`` of ``column`` of the report table ``table``, in ``lang``:
    the table's own meaning of the name first, then the name's usual meaning, then the codebook
    patterns (a city code, ``rank_`` and a city code, an indicator code). Raises ``KeyError``
    naming the table and column when none applies, so an undescribed column cannot be published."""
    label, definition, unit = _entry(table, column, lang, codebook)
    return label, definition, UNITS[lang][unit]


def unit_of(table: str, column: str, lang: str = "zh", codebook=None) -> str:
    """The unit key (of :data:`UNITS`) of ``column`` in ``table``."""
    return _entry(table, column, lang, codebook)[2]


def number_format(table: str, column: str, codebook=None, digits: int | None = None) -> str | None:
    """The Excel number format of a numeric column: the report's decimals (``digits``) where the
    section states them, a proportion as a percentage, otherwise the unit's usual format."""
    try:
        unit = unit_of(table, column, "en", codebook)
    except KeyError:
        unit = None
    if (table, column) in _TABLE_FORMATS:
        return _TABLE_FORMATS[(table, column)]
    if unit == "proportion":
        places = max((digits if digits is not None else 3) - 2, 1)
        return "0." + "0" * places + "%"
    if digits is not None:
        return "0" if digits == 0 else "0." + "0" * digits
    if unit == "points_diff" and (column == "se" or column.endswith("_se")):
        return "0.00"     # standard errors one place finer than the scores, as the report prints them
    return UNIT_FORMATS.get(unit) if unit else None


def _entry(table: str, column: str, lang: str, codebook) -> tuple[str, str, str]:
    if lang not in COLUMNS:
        raise ValueError(f"lang must be one of {', '.join(COLUMNS)}, got {lang!r}")
    own = TABLE_COLUMNS[lang].get((table, column))
    if own:
        return own
    found = _pattern(column, codebook)
    if found:
        kind, code = found
        name = codebook.city_label(code, lang) if kind in ("city", "rank") else codebook.label(code, lang)
        label, definition, unit = _PATTERNS[lang][kind]
        return label.format(name=name), definition.format(name=name), unit
    if column in COLUMNS[lang]:
        return COLUMNS[lang][column]
    raise KeyError(f"column {column!r} of table {table!r} has no description in satisfaction.report.columns ({lang})")
