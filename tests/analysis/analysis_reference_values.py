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
BINOM_177_531 = dict(
    p_value=1.91435303647521e-05,
    p_greater=1.04300426754178e-05,  # alternative = "greater" (exact)
    ci=(0.293320414893876, 0.375213898962762),
)  # $conf.int (mpmath)
# binom.test(176, 523, p = 1/3)               -> paper category 2 (exact)
BINOM_176_523 = dict(p_value=0.889362577308945, p_greater=0.454897654601874, ci=(0.296090585727846, 0.378809734832623))
# binom.test(682, 925, p = 3/4)  (the ?binom.test example: 682 giant, 243 dwarf plants).
# R's help page prints p-value = 0.3825 and 95 percent CI 0.7076683 0.7654066;
# our exact/mpmath values agree to those digits.
BINOM_682_925 = dict(p_value=0.382491559574852, p_greater=0.824089122352423, ci=(0.707668264079039, 0.765406558241525))
# binom.test(133, 274, p = 1/4)  -> paper category 3, synthetic portraits (exact)
BINOM_133_274 = dict(
    p_value=5.00863306423387e-17, p_greater=4.07208385529842e-17, ci=(0.424838272838695, 0.546283755302292)
)
# binom.test(176, 523, p = 1/3, alternative = "less")$conf.int[2]   (mpmath)
UPPER_176_523 = 0.372091848774318

# --- prop.test ---------------------------------------------------------------------
# prop.test(177, 531, correct = FALSE)$conf.int  (Wilson score interval, mpmath)
WILSON_177_531 = (0.294561322565976, 0.374499485864472)
# prop.test(c(132, 133), c(275, 274))   -> X-squared, p-value, conf.int (mpmath)
PROP_132_275_133_274 = dict(
    chi2=0.00169963877491892, p_value=0.967115187752074, ci=(-0.0926425482940463, 0.0818396285860171)
)
# prop.test(c(60, 40), c(100, 100)): X-squared = 9.5^2 * 4/50 = 7.22 by hand (mpmath)
PROP_60_40 = dict(chi2=7.22, p_value=0.00720957076474253, ci=(0.0542097119108594, 0.345790288089141))
# prop.test(c(60, 40), c(100, 100), correct = FALSE): X-squared = 8 by hand (mpmath)
PROP_60_40_UNCORRECTED = dict(chi2=8.0, p_value=0.00467773498104727, ci=(0.0642097119108594, 0.335790288089141))

# --- fisher.test ----------------------------------------------------------------------
# fisher.test(matrix(c(3, 1, 1, 3), 2))  (?fisher.test TeaTasting, two-sided).
# p = 17/35 exactly; R prints p-value = 0.4857.
FISHER_TEA = dict(
    p_value=17 / 35,
    # $estimate and $conf.int: conditional MLE and exact conditional
    # interval, solved by bisection in mpmath. R solves them with
    # uniroot at its default tolerance, so R's printed digits can differ
    # from these after about the 4th significant figure.
    odds_ratio=6.408319658,
    ci=(0.2117355954, 626.2435306),
)
# fisher.test(matrix(c(10, 3, 2, 15), 2))  i.e. rows (10, 2) and (3, 15)   (exact; mpmath)
FISHER_10_2_3_15 = dict(p_value=0.000536724119143436, odds_ratio=21.30531756, ci=(2.753382788, 301.462338))
# fisher.test(matrix(c(132, 133, 143, 141), 2))   (exact)
FISHER_132_143_133_141 = dict(p_value=0.93201261250883)
# fisher.test(matrix(c(60, 40, 40, 60), 2))   (exact)
FISHER_60_40_40_60 = dict(p_value=0.00705951549501625)

# --- TOST (no base R function; Schuirmann's two one-sided Wald z-tests) --------------
# d = p1 - p2, se = sqrt(p1 q1 / n1 + p2 q2 / n2),
# p = max(1 - pnorm((d + m) / se), pnorm((d - m) / se)),
# 90% CI = d + c(-1, 1) * qnorm(0.95) * se        (all mpmath)
TOST_132_275_133_274_M10 = dict(
    p_value=0.0132818333541616,
    p_lower=0.0132818333541616,
    p_upper=0.00673404514383657,
    ci=(-0.0755591878290725, 0.0647562681210433),
)
TOST_132_275_133_274_M05 = dict(p_value=0.147869088641988)
TOST_45_100_50_100_M15 = dict(
    p_value=0.0781300710982601, p_upper=0.00228752299932985, ci=(-0.166017579203001, 0.0660175792030013)
)

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

# --- Random-intercept logistic regression (maximum likelihood) ------------------------------
# lme4::glmer(cbind(y, n - y) ~ 1 + (1 | expert), family = binomial, nAGQ = 25), i.e. the same
# fit as glmer(correct ~ 1 + (1 | participant), family = binomial, nAGQ = 25) on one row per
# answer (logLik below is that of the 0/1 rows: no binomial coefficients). Computed
# independently of Gauss-Hermite quadrature and of our code: each expert's marginal likelihood
# integral by scipy.integrate.quad (relative tolerance 1e-13, split at the integrand's mode),
# its gradient and Hessian in (beta, sigma) as posterior moments by the same quadrature,
# Newton's method to the maximum; the null fit's sigma and each profile point by a grid
# over sigma in [0, 6] then golden section; profile-interval ends by brentq.
#   beta, sigma:  fixef(fit), VarCorr(fit)$expert[1]^0.5          loglik: logLik(fit)
#   se:           sqrt(vcov(fit)[1, 1])   (inverse observed information of (beta, sigma))
#   p_lrt:        anova(update(fit, . ~ 0 + offset(qlogis(chance)) + (1 | expert)), fit)
#   ci:           plogis(confint(fit, parm = "(Intercept)", method = "profile"))
# Set A: 12 experts, n = (7, 7, 9, 11, 3, 4, 10, 11, 5, 5, 10, 6),
#        y = (1, 2, 4, 3, 1, 4, 4, 4, 1, 1, 2, 4), chance 1/4. The ML sigma is 0 (boundary).
MIXED_A = dict(
    n=(7, 7, 9, 11, 3, 4, 10, 11, 5, 5, 10, 6),
    y=(1, 2, 4, 3, 1, 4, 4, 4, 1, 1, 2, 4),
    chance=1 / 4,
    beta=-0.6090640633494038,
    sigma=0.0,
    loglik=-57.098114068473265,
    se=0.22316344719790432,
    p_lrt=0.054540593760049515,
    sigma_null=0.5822520522702813,
    ci=(0.24755546860280636, 0.4666496488260103),
)
# Set B: 15 experts, chance 1/3.
MIXED_B = dict(
    n=(8, 9, 4, 9, 7, 7, 8, 6, 10, 4, 5, 6, 7, 6, 4),
    y=(7, 7, 3, 0, 2, 4, 1, 1, 0, 0, 1, 1, 1, 2, 1),
    chance=1 / 3,
    beta=-1.111052516856448,
    sigma=1.4509857861584163,
    loglik=-54.291536217723745,
    se=0.4801672251246031,
    p_lrt=0.3688999938518237,
    ci=(0.09492693311790365, 0.45575204104655637),
)
# Set C: 3 experts 10 of 10, 17 experts 2 of 10, chance 1/4.
MIXED_C = dict(
    n=(10,) * 20,
    y=(10,) * 3 + (2,) * 17,
    chance=1 / 4,
    beta=-0.8579460181669994,
    sigma=1.37325716432185,
    loglik=-109.9749951129515,
    se=0.3585070713318125,
    p_lrt=0.5042652460516519,
    ci=(0.16731088397180763, 0.478340572840509),
)

# --- TOST power (normal approximation of the Wald TOST; mpmath, 30 digits) -------------------
# se = sqrt(p1 q1 / n1 + p2 q2 / n2); z = qnorm(0.95);
# pnorm((m - d) / se - z) - pnorm((-m - d) / se + z)
#   TOSTER::power_twoprop(p1 = .48, p2 = .48, n = 275, null = .10, alpha = .05,
#                         alternative = "equivalence") answers the same question (pooled SE).
TOST_POWER_48_275_274_M10 = 0.51613145856515
# p1 = 0.48, p2 = 0.485, n1 = 150, n2 = 402, margin 0.10 (issue 15: "35 % at the 150/402 split")
TOST_POWER_48_485_150_402_M10 = 0.34334393285480

# --- Per-portrait re-identification (options export) -----------------------------------------
# Five training members at chance 1/3 (3 options), (chosen, shown) as below.
# binom.test(y, n, p = 1/3, alternative = "greater")$p.value, each an exact rational sum
# (fractions.Fraction over math.comb): 1/59049, 835/19683, 1697/6561, 179/243, 13795/19683.
PORTRAIT_COUNTS = ((10, 10), (6, 9), (4, 8), (2, 7), (3, 10))
PORTRAIT_P = (1.6935087808430286e-05, 0.04242239496011787, 0.25864959609815574, 0.7366255144032922, 0.7008586089518875)
# p.adjust(PORTRAIT_P, "holm"): 5 x 1/59049, 4 x 835/19683, 3 x 1697/6561, then capped at 1
# (running maximum; exact arithmetic).
PORTRAIT_P_HOLM = (8.467543904215143e-05, 0.16968957984047148, 0.7759487882944673, 1.0, 1.0)
# binom.test(10, 10)$conf.int: (0.025^(1/10), 1), closed form (mpmath, 40 digits).
PORTRAIT_CI_10_10 = (0.6915028921812391760933, 1.0)
