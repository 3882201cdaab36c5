"""The small typed results every test in this package returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["TestResult", "NotTested"]


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test or interval, in a fixed shape.

    Attributes
    ----------
    statistic : float
        The test statistic (for an exact binomial test, the number of successes,
        as in R's ``binom.test``).
    p_value : float
        The p-value for ``alternative``.
    ci : tuple of float
        Confidence interval for ``estimate`` at ``conf_level``.
    n : int
        Number of observations the test used.
    method : str
        Name of the test, as a report would print it.
    estimate : float
        The point estimate the interval is about.
    alternative : str
        ``"two-sided"``, ``"greater"`` or ``"less"``.
    conf_level : float
        Coverage of ``ci``.
    extra : dict
        Test-specific numbers (for example the null value or the margin).
    """

    statistic: float
    p_value: float
    ci: tuple[float, float]
    n: int
    method: str
    estimate: float = math.nan
    alternative: str = "two-sided"
    conf_level: float = 0.95
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


@dataclass(frozen=True)
class NotTested:
    """Stands in for a result when the data cannot support the test.

    A report prints the reason instead of a misleading p-value.
    """

    method: str
    n: int
    reason: str

    def to_dict(self) -> dict:
        return {"method": self.method, "n": self.n, "p_value": None, "reason": self.reason}
