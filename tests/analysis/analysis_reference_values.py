"""Reference values for analysis tests, with the R call each one answers.

R is not installed here and CRAN is unreachable, so no value below was printed by R
in this project. Each was computed independently of scipy and of our code:

* "exact": rational arithmetic (``fractions.Fraction``, ``math.comb``) summing the
  binomial or hypergeometric probabilities with R's own rule for two-sided p-values
  (outcomes with probability <= observed * (1 + 1e-7));
* "mpmath": 40-digit arithmetic (mpmath 1.3.0) on the closed-form formula, with
  interval ends found by 140 bisection steps on the exact tail sums.

Where R's documentation prints the same example, its printed digits are quoted and
agree with ours to the digits printed. test_analysis_reference.py recomputes the binomial
p-values exactly, checks each Clopper-Pearson end by its 2.5 % tail in 40-digit mpmath, and
recomputes the Wilson interval in closed form, so this provenance is checked on every run.
"""

# --- binom.test ------------------------------------------------------------------
# binom.test(177, 531, p = 1/4)               -> paper category 1 (exact)
BINOM_177_531 = dict(p_value=1.91435303647521e-05,
                     p_greater=1.04300426754178e-05,   # alternative = "greater" (exact)
                     ci=(0.293320414893876, 0.375213898962762))  # $conf.int (mpmath)
# binom.test(176, 523, p = 1/3)               -> paper category 2 (exact)
BINOM_176_523 = dict(p_value=0.889362577308945, p_greater=0.454897654601874,
                     ci=(0.296090585727846, 0.378809734832623))
# binom.test(682, 925, p = 3/4)  (the ?binom.test example: 682 giant, 243 dwarf plants).
# R's help page prints p-value = 0.3825 and 95 percent CI 0.7076683 0.7654066;
# our exact/mpmath values agree to those digits.
BINOM_682_925 = dict(p_value=0.382491559574852, p_greater=0.824089122352423,
                     ci=(0.707668264079039, 0.765406558241525))
# binom.test(133, 274, p = 1/4)  -> paper category 3, synthetic portraits (exact)
BINOM_133_274 = dict(p_value=5.00863306423387e-17, p_greater=4.07208385529842e-17,
                     ci=(0.424838272838695, 0.546283755302292))
# binom.test(176, 523, p = 1/3, alternative = "less")$conf.int[2]   (mpmath)
UPPER_176_523 = 0.372091848774318

# --- prop.test ---------------------------------------------------------------------
# prop.test(177, 531, correct = FALSE)$conf.int  (Wilson score interval, mpmath)
WILSON_177_531 = (0.294561322565976, 0.374499485864472)
# prop.test(c(132, 133), c(275, 274))   -> X-squared, p-value, conf.int (mpmath)
PROP_132_275_133_274 = dict(chi2=0.00169963877491892, p_value=0.967115187752074,
                            ci=(-0.0926425482940463, 0.0818396285860171))
# prop.test(c(60, 40), c(100, 100)): X-squared = 9.5^2 * 4/50 = 7.22 by hand (mpmath)
PROP_60_40 = dict(chi2=7.22, p_value=0.00720957076474253,
                  ci=(0.0542097119108594, 0.345790288089141))
# prop.test(c(60, 40), c(100, 100), correct = FALSE): X-squared = 8 by hand (mpmath)
PROP_60_40_UNCORRECTED = dict(chi2=8.0, p_value=0.00467773498104727,
                              ci=(0.0642097119108594, 0.335790288089141))

# --- fisher.test ----------------------------------------------------------------------
# fisher.test(matrix(c(3, 1, 1, 3), 2))  (?fisher.test TeaTasting, two-sided).
# p = 17/35 exactly; R prints p-value = 0.4857.
FISHER_TEA = dict(p_value=17 / 35,
                  # $estimate and $conf.int: conditional MLE and exact conditional
                  # interval, solved by bisection in mpmath. R solves them with
                  # uniroot at its default tolerance, so R's printed digits can differ
                  # from these after about the 4th significant figure.
                  odds_ratio=6.408319658, ci=(0.2117355954, 626.2435306))
# fisher.test(matrix(c(10, 3, 2, 15), 2))  i.e. rows (10, 2) and (3, 15)   (exact; mpmath)
FISHER_10_2_3_15 = dict(p_value=0.000536724119143436, odds_ratio=21.30531756,
                        ci=(2.753382788, 301.462338))
# fisher.test(matrix(c(132, 133, 143, 141), 2))   (exact)
FISHER_132_143_133_141 = dict(p_value=0.93201261250883)
# fisher.test(matrix(c(60, 40, 40, 60), 2))   (exact)
FISHER_60_40_40_60 = dict(p_value=0.00705951549501625)

# --- TOST (no base R function; Schuirmann's two one-sided Wald z-tests) --------------
# d = p1 - p2, se = sqrt(p1 q1 / n1 + p2 q2 / n2),
# p = max(1 - pnorm((d + m) / se), pnorm((d - m) / se)),
# 90% CI = d + c(-1, 1) * qnorm(0.95) * se        (all mpmath)
TOST_132_275_133_274_M10 = dict(p_value=0.0132818333541616, p_lower=0.0132818333541616,
                                p_upper=0.00673404514383657,
                                ci=(-0.0755591878290725, 0.0647562681210433))
TOST_132_275_133_274_M05 = dict(p_value=0.147869088641988)
TOST_45_100_50_100_M15 = dict(p_value=0.0781300710982601, p_upper=0.00228752299932985,
                              ci=(-0.166017579203001, 0.0660175792030013))

# --- p.adjust ---------------------------------------------------------------------------
# p.adjust(c(0.01, 0.04, 0.03, 0.02, 0.05), "holm") and "BH", by hand:
# Holm: sorted p * (5, 4, 3, 2, 1) = .05 .08 .09 .08 .05, running max -> .05 .08 .09 .09 .09
# BH:   sorted p * 5 / (1..5)      = .05 .05 .05 .05 .05
PADJUST_P = (0.01, 0.04, 0.03, 0.02, 0.05)
PADJUST_HOLM = (0.05, 0.09, 0.09, 0.08, 0.09)
PADJUST_BH = (0.05, 0.05, 0.05, 0.05, 0.05)

# --- Sensitivity to skips and timeouts (paper category 1: 177/531, 89 excluded) --------
# binom.test(177, 620, p = 1/4)$p.value              (counted wrong; exact)
SENS_177_620 = 0.04599737693076952
# binom.test(177 + 22, 620, p = 1/4)$p.value         (counted at chance: round(89 / 4); exact)
SENS_199_620 = 7.746332088809985e-05

# --- Per-expert re-identification ---------------------------------------------------------
# binom.test(10, 10, p = 1/3, alternative = "greater")$p.value = (1/3)^10   (exact)
EXPERT_10_10 = 1.6935087808430286e-05
# binom.test(7, 10, p = 1/3, alternative = "greater")$p.value               (exact)
EXPERT_7_10 = 0.019661636945587563

# --- Mantel-Haenszel, strata (y1, n1, y2, n2) = (30, 50, 12, 40), (10, 40, 25, 60),
# (45, 60, 8, 10) ---------------------------------------------------------------------------
# metafor::rma.mh(ai = c(30, 10, 45), n1i = c(50, 40, 60), ci = c(12, 25, 8),
#                 n2i = c(40, 60, 10), measure = "RD")   -> estimate, se
#   (exact rational arithmetic on the MH and Sato formulas; se by 40-digit mpmath)
MH_RD = dict(difference=0.04084588644264195, se=0.06593053652778035)
# mantelhaen.test(array(...))  (correct = TRUE)  -> Mantel-Haenszel X-squared, p-value
#   (exact rational statistic; p = erfc(sqrt(x / 2)) in mpmath)
MH_CMH = dict(statistic=0.2377392269796932, p_value=0.6258437536029504)
