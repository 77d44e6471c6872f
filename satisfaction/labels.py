"""Words a reader sees, in Chinese (default) and English (``lang="en"``)."""
from __future__ import annotations

TEXT = {
    "zh": {
        "report_title": "{year}年{region}消费者满意度测评报告",
        "report_subtitle": "{title} · {year} 年 · 共 {n_cities} 个城市、{n} 份有效问卷",
        "sec_sample": "一、样本概况",
        "sec_scores": "二、满意度指数与排名",
        "sec_dimensions": "三、一级指标得分",
        "sample_note": "每个城市至少需要 {minimum} 份有效问卷（95% 置信水平下误差 ±5%，设计效应 1.4）。本年度 {met}/{total} 个城市达到要求。样本按各市人口的性别×年龄、文化程度和城乡结构进行加权（raking）；设计效应反映加权带来的精度损失，误差范围按有效样本量计算。",
        "scores_note": "指数为 0–100 分：各题目按其量表换算为 0–100 分，按人口结构加权后求各市均值，再按指标体系的固定权重逐级加权汇总。“95%置信区间”按考虑加权的线性化方差估计；置信区间重叠的城市之间差异未必显著。",
        "dimensions_note": "一级指标：{dims}。",
        "top_bottom": "得分最高的城市是{top}（{top_score:.1f} 分），最低的是{bottom}（{bottom_score:.1f} 分）。",
        "col_rank": "排名", "col_city": "城市", "col_n": "样本量", "col_minimum": "最低样本量", "col_meets": "是否达标",
        "col_rejected": "剔除问卷", "col_se": "标准误", "col_ci": "95%置信区间", "col_deff": "设计效应",
        "col_neff": "有效样本量", "col_moe": "误差范围(±%)",
        "yes": "是", "no": "否",
        "sec_reliability": "四、问卷信度与数据质量",
        "reliability_note": "Cronbach's α ≥ 0.70 表示同一维度的题目测量一致；校正题总相关（r.drop）< 0.30 的题目与其他题目关联弱；KMO ≥ 0.60 表示适合合并分析；平均提取方差 AVE ≥ 0.50 表示题目主要反映该维度；HTMT > 0.85 表示两个维度难以区分。α 按加权样本、列删除法计算，括号为 Feldt 95% 置信区间，另列 500 次重新加权的自助法区间；ω 为单因子 ω_t 与 Schmid–Leiman 分层 ω_h（因子模型不可识别时记为 —）。",
        "quality_note": "数据质量：直线作答指对所有五级题给出同一答案；过快作答指访问时长不足中位数的 40%；这些问卷暂未剔除，供复核。",
        "col_dimension": "一级指标", "col_items": "题目数", "col_alpha": "α（95%置信区间）", "col_alpha_boot": "α 自助法区间", "col_omega": "ω_t / ω_h", "col_ave": "AVE", "col_htmt": "最大 HTMT", "col_std_alpha": "标准化α",
        "col_lambda6": "λ6", "col_weakest": "r.drop 最低的题目", "col_kmo": "KMO", "col_verdict": "结论",
        "col_straight": "直线作答(%)", "col_speed": "过快作答(%)", "col_nonresp": "题目缺答率(%)", "col_dk": "“不知道”(%)",
        "fig_index_title": "{year}年各城市消费者满意度指数", "fig_index_x": "指数（0–100）",
        "fig_dim_title": "{year}年各城市一级指标得分", "fig_dim_y": "得分（0–100）",
        "composite_note": "全区综合指数（各市得分按{size}加权）为 {est:.1f} 分（95%置信区间 {lo:.1f}–{hi:.1f}）。",
        "size_adult_population": "常住成年人口", "size_retail_sales": "社会消费品零售总额",
        "sec_robustness": "五、排名的稳健性",
        "robustness_note": "指数的权重与汇总方式都有不确定性。下表列出本报告采用的权重（codebook 专家权重）及其来源，并给出等权、层次分析法（AHP）、熵权法和主成分法的对照。随后以 {draws} 次蒙特卡罗抽样同时改变权重方案、权重（±{pert:.0%} 扰动）、汇总方式（算术/几何平均）和缺失规则，得到各市排名的可能范围；Sobol 指数说明排名变动主要来自哪一项选择。",
        "sobol_note": "Sobol 指数（排名平均绝对变动的方差分解）：一阶指数为该选择单独造成的份额，总指数包括与其他选择的交互。",
        "col_node": "上级指标", "col_child": "指标", "col_weight_used": "采用权重", "col_provenance": "来源",
        "col_equal": "等权", "col_ahp": "AHP", "col_entropy": "熵权", "col_pca": "主成分",
        "col_nominal_rank": "公布排名", "col_median_rank": "排名中位数", "col_rank_range": "排名 90% 范围", "col_shift": "平均排名变动",
        "col_factor": "不确定来源", "col_first": "一阶指数", "col_total": "总指数",
        "factor_scheme": "权重方案", "factor_weights": "权重扰动", "factor_aggregation": "汇总方式", "factor_missing": "缺失规则",
        "fig_rank_title": "{year}年各城市排名的不确定性", "fig_rank_x": "排名（1 = 最好）", "fig_rank_nominal": "公布排名",
        "fig_rank_range": "5%–95% 范围（圆点为中位数）",
        "sec_drivers": "六、改进重点：重要性—表现分析",
        "drivers_note": "重要性为各二级指标对“总体满意度”题的解释份额（Johnson 相对权重，按加权样本计算），表现为该指标得分。以各市自身的平均重要性和平均表现为界分为四类：重点改进（重要但表现偏弱）、继续保持、次要改进、过度投入。",
        "fig_ipa_title": "{year}年各城市重要性—表现分析", "fig_ipa_x": "重要性（%）", "fig_ipa_y": "表现（0–100）",
        "col_concentrate": "重点改进的指标", "prov_codebook": "专家权重（codebook）",
        "sec_model": "七、顾客满意度指数模型（PLS 结构方程）",
        "model_note": "按{model}的路径结构，以偏最小二乘路径模型（PLS-PM，路径加权方案，加权样本）估计各潜变量之间的关系；路径系数的标准误和 95% 区间来自 {reps} 次重新加权的自助法（每次重新估计模型）。各潜变量的 0–100 指数按非标准化外部权重对题目得分加权（ACSI 方法）。模型整体拟合优度 GoF = {gof:.3f}。",
        "col_from": "自", "col_to": "至", "col_path": "路径系数", "col_r2": "R²", "col_lv": "潜变量",
        "col_rho_a": "rhoA", "col_rho_c": "组合信度 rhoC", "col_model_index": "指数",
        "fig_model_title": "{year}年各城市{lv}指数（PLS 模型，95%置信区间）",

    },
    "en": {
        "report_title": "Consumer satisfaction evaluation {year}: {region}",
        "report_subtitle": "{title} · {year} survey · {n_cities} cities, {n} valid interviews",
        "sec_sample": "1. Sample",
        "sec_scores": "2. Satisfaction index and ranking",
        "sec_dimensions": "3. First-level indicators",
        "sample_note": "Each city needs at least {minimum} valid interviews (±5 % at 95 % confidence, design effect 1.4). This year {met} of {total} cities meet it. Each city's sample is raked to its population by sex × age, education and urban/rural residence; the design effect measures the precision lost to weighting, and the margin of error uses the effective sample size.",
        "scores_note": "The index runs from 0 to 100: each item is rescaled to 0–100 from its own scale, averaged over each city's weighted respondents, then combined up the indicator tree with the codebook's fixed weights. The 95 % confidence intervals use the linearised variance, allowing for the weighting; cities whose intervals overlap may not differ significantly.",
        "dimensions_note": "First-level indicators: {dims}.",
        "top_bottom": "The highest-scoring city is {top} ({top_score:.1f}); the lowest is {bottom} ({bottom_score:.1f}).",
        "col_rank": "Rank", "col_city": "City", "col_n": "Interviews", "col_minimum": "Minimum", "col_meets": "Meets minimum",
        "col_rejected": "Rejected", "col_se": "SE", "col_ci": "95% CI", "col_deff": "Design effect",
        "col_neff": "Effective n", "col_moe": "Margin of error (±%)",
        "yes": "yes", "no": "no",
        "sec_reliability": "4. Reliability and data quality",
        "reliability_note": "Cronbach's alpha ≥ 0.70: the items of a dimension measure one thing consistently; items with a corrected item–total correlation (r.drop) < 0.30 go their own way; KMO ≥ 0.60: suitable for combining; average variance extracted (AVE) ≥ 0.50: the items mainly reflect their dimension; HTMT > 0.85: two dimensions are hard to tell apart. Alpha from the weighted sample, listwise; Feldt 95 % interval in brackets, and the interval from 500 re-raked bootstrap replicates; omega total (one factor) / omega hierarchical (Schmid–Leiman; — when the factor model is not identified).",
        "quality_note": "Data quality: straight-lining = the same answer to every 5-point item; speeding = an interview shorter than 40 % of the median. These interviews are kept for now and listed for review.",
        "col_dimension": "Dimension", "col_items": "Items", "col_alpha": "Alpha (95% CI)", "col_alpha_boot": "Alpha, bootstrap CI", "col_omega": "Omega t / h", "col_ave": "AVE", "col_htmt": "Largest HTMT", "col_std_alpha": "Std. alpha",
        "col_lambda6": "Lambda-6", "col_weakest": "Lowest r.drop", "col_kmo": "KMO", "col_verdict": "Verdict",
        "col_straight": "Straight-lining (%)", "col_speed": "Speeding (%)", "col_nonresp": "Item non-response (%)",
        "col_dk": "Don't know (%)",
        "fig_index_title": "Consumer satisfaction index by city, {year}", "fig_index_x": "Index (0–100)",
        "fig_dim_title": "First-level indicator scores by city, {year}", "fig_dim_y": "Score (0–100)",
        "composite_note": "The provincial composite (city scores weighted by {size}) is {est:.1f} (95 % CI {lo:.1f}–{hi:.1f}).",
        "size_adult_population": "adult population", "size_retail_sales": "retail sales",
        "sec_robustness": "5. How robust is the ranking?",
        "robustness_note": "The weights and the way scores are combined are choices, not facts. The table lists the weights this report uses (the codebook's expert weights) and where they come from, next to equal, AHP, entropy and principal-component weights. {draws} Monte Carlo draws then vary the weight scheme, the weights themselves (±{pert:.0%}), the aggregation (arithmetic or geometric mean) and the missing-data rule together, giving each city's plausible range of ranks; the Sobol indices say which choice moves the ranks most.",
        "sobol_note": "Sobol indices of the mean absolute rank shift: first order = the share due to that choice alone; total = including its interactions with the others.",
        "col_node": "Parent", "col_child": "Indicator", "col_weight_used": "Weight used", "col_provenance": "Source",
        "col_equal": "Equal", "col_ahp": "AHP", "col_entropy": "Entropy", "col_pca": "PCA",
        "col_nominal_rank": "Published rank", "col_median_rank": "Median rank", "col_rank_range": "90% rank range", "col_shift": "Mean rank shift",
        "col_factor": "Uncertain choice", "col_first": "First order", "col_total": "Total",
        "factor_scheme": "weight scheme", "factor_weights": "weight perturbation", "factor_aggregation": "aggregation", "factor_missing": "missing-data rule",
        "fig_rank_title": "Uncertainty of each city's rank, {year}", "fig_rank_x": "Rank (1 = best)", "fig_rank_nominal": "published rank",
        "fig_rank_range": "5–95 % range (dot: median)",
        "sec_drivers": "6. Where to improve: importance–performance",
        "drivers_note": "Importance is each second-level indicator's share of the explained variance of the overall-satisfaction question (Johnson's relative weights, weighted sample); performance is its score. Split at each city's own mean importance and mean performance: concentrate here (important but weak), keep up the good work, low priority, possible overkill.",
        "fig_ipa_title": "Importance–performance by city, {year}", "fig_ipa_x": "Importance (%)", "fig_ipa_y": "Performance (0–100)",
        "col_concentrate": "Concentrate here", "prov_codebook": "expert weights (codebook)",
        "sec_model": "7. The customer satisfaction index model (PLS path model)",
        "model_note": "The {model} paths are estimated by partial least squares path modelling (PLS-PM, path weighting scheme, weighted sample); the standard errors and 95 % intervals of the paths come from {reps} re-raked bootstrap replicates, each re-estimating the model. Each construct's 0–100 index weights its items by the unstandardised outer weights (the ACSI method). Goodness of fit GoF = {gof:.3f}.",
        "col_from": "From", "col_to": "To", "col_path": "Path", "col_r2": "R²", "col_lv": "Construct",
        "col_rho_a": "rhoA", "col_rho_c": "Composite reliability rhoC", "col_model_index": "Index",
        "fig_model_title": "{lv} index by city, {year} (PLS model, 95% CI)",

    },
}
LANGS = tuple(TEXT)


def check_lang(lang: str) -> str:
    if lang not in TEXT:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def t(key: str, lang: str = "zh", **fmt) -> str:
    """The text ``key`` in ``lang``, formatted with ``fmt``."""
    return TEXT[check_lang(lang)][key].format(**fmt)
