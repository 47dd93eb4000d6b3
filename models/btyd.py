"""Buy-till-you-die (BTYD) customer-lifetime-value models in plain numpy/scipy.

The "customer value" family starts from three classic probabilistic models of non-contractual
customers, fitted by maximum likelihood on one row per customer:

* **BG/NBD** (:class:`BetaGeoModel`; Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
  Way"): while alive a customer buys at a Poisson rate ``lambda ~ Gamma(r, alpha)``; after each
  repeat purchase they drop out with probability ``p ~ Beta(a, b)``.
* **Pareto/NBD** (:class:`ParetoNBDModel`; Schmittlein, Morrison & Colombo 1987, in the form of
  Fader, Hardie & Lee's note "A Note on Deriving the Pareto/NBD Model and Related Expressions",
  2005): the same purchase process, but the lifetime is exponential with a dropout rate
  ``mu ~ Gamma(s, beta)`` that can end at any time, not only after a purchase.
* **Gamma-Gamma** (:class:`GammaGammaModel`; Fader, Hardie & Lee 2005, "RFM and CLV", and Hardie's
  note 025): spend per order, for the expected value of a customer's future orders.

:func:`customer_summary` turns a transaction log into the per-customer statistics these models
read (``frequency`` = repeat purchase days, ``recency``, ``T``, ``monetary``, and a hold-out when
a calibration end is given); :func:`customer_lifetime_value` combines a purchase model with
Gamma-Gamma into a discounted value. :func:`simulate_beta_geo` draws customers from a known
BG/NBD for checks of the fitting.

Why not the ``lifetimes`` library: it pulls ``autograd`` and ``dill``, its Pareto/NBD fit is a
randomly started Nelder-Mead (seconds on CDNOW), and its summary counts one purchase per
*period* (per week with ``freq="W"``) with ages floored to whole periods, so its weekly CDNOW
fit is not the published one. Every value here was checked against ``lifetimes`` 0.11.3 on the
same summaries (``tests/unit/test_btyd.py``).

Fitting conventions: time is scaled so that the oldest customer's age is 1 while optimising;
the objective is the mean negative log-likelihood plus ``penalizer * sum(params**2)``, with the
rate parameters (``alpha``, ``beta``) in that scaled time, which is exactly lifetimes'
``BetaGeoFitter``/``GammaGammaFitter`` penalty (its ``ParetoNBDFitter`` penalises the *total*
likelihood instead); parameters are optimised on the log scale, and identical
``(frequency, recency, T)`` rows are collapsed into weighted patterns first. ``log_likelihood``
is always the unpenalised total log-likelihood in the data's own time unit (lifetimes reports
its scaled-time value).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special
from threadpoolctl import threadpool_limits

ArrayLike = float | int | Sequence[float] | np.ndarray | pd.Series

#: Days per time unit of :func:`customer_summary`.
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0}


# -- data ------------------------------------------------------------------------------------
def customer_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    calibration_end: Any = None,
    observation_end: Any = None,
    freq: str = "W",
    date_format: str | None = None,
) -> pd.DataFrame:
    """Per-customer BTYD statistics from a transaction log, one purchase per customer-day.

    Transactions of a customer on the same calendar day are one purchase (their values summed):
    BTYD models count purchase occasions, and same-day rows are mostly split orders. Times are
    exact day counts divided by the unit (``"D"`` days, ``"W"`` weeks = 7 days), not floored to
    whole periods, so a weekly summary gives the ages Fader, Hardie & Lee used.

    Columns, indexed by customer (named ``customer_col``) and sorted:

    * ``frequency``: repeat purchase days in the calibration period (purchase days - 1);
    * ``recency``: time from the first to the last purchase day in the calibration period;
    * ``T``: time from the first purchase day to the end of the calibration period;
    * ``monetary`` (with ``value_col``): mean value of the *repeat* purchase days, the input
      Gamma-Gamma wants (the first purchase is left out); 0 without repeats;
    * with ``calibration_end``: ``frequency_holdout`` (purchase days after the calibration end
      up to ``observation_end``), ``monetary_holdout`` (mean value of those days, 0 without
      any; with ``value_col``) and ``duration_holdout`` (length of the hold-out in the unit).

    ``calibration_end`` and ``observation_end`` are dates and inclusive (a purchase on that day
    belongs to the period); ``observation_end`` defaults to the last transaction day and later
    transactions are dropped. Without ``calibration_end`` the calibration period ends at
    ``observation_end``. Customers whose first purchase is after ``calibration_end`` are left out
    (they are unknown at that date).
    """
    if freq not in UNIT_DAYS:
        raise ValueError(f"freq must be one of {sorted(UNIT_DAYS)}, got {freq!r}")
    unit = UNIT_DAYS[freq]
    dates = transactions[date_col]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates, format=date_format)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": dates.dt.normalize().to_numpy(),
            "value": (
                transactions[value_col].to_numpy(dtype=float)
                if value_col is not None
                else np.ones(len(transactions))
            ),
        }
    )
    if frame["customer"].isna().any() or frame["day"].isna().any():
        raise ValueError("transactions have missing customer ids or dates")
    obs_end = (
        frame["day"].max() if observation_end is None else pd.Timestamp(observation_end).normalize()
    )
    cal_end = obs_end if calibration_end is None else pd.Timestamp(calibration_end).normalize()
    if cal_end > obs_end:
        raise ValueError(
            f"calibration_end {cal_end.date()} is after observation_end {obs_end.date()}"
        )
    frame = frame[frame["day"] <= obs_end]
    # one purchase per customer-day, sorted by customer then day
    days = frame.groupby(["customer", "day"], sort=True, observed=True)["value"].sum().reset_index()
    cal = days[days["day"] <= cal_end]
    if cal.empty:
        raise ValueError(f"no transactions on or before {cal_end.date()}")
    first_day = ~cal["customer"].duplicated()
    by_customer = cal.groupby("customer", sort=True, observed=True)["day"]
    first, last = by_customer.min(), by_customer.max()
    out = pd.DataFrame(index=first.index)
    out.index.name = customer_col
    out["frequency"] = by_customer.size().astype(np.int64) - 1
    out["recency"] = (last - first).dt.days.astype(float) / unit
    out["T"] = (cal_end - first).dt.days.astype(float) / unit
    if value_col is not None:
        repeat_mean = cal.loc[~first_day].groupby("customer", observed=True)["value"].mean()
        out["monetary"] = repeat_mean.reindex(out.index).fillna(0.0).astype(float)
    if calibration_end is not None:
        hold = days[(days["day"] > cal_end) & days["customer"].isin(out.index)]
        by_hold = hold.groupby("customer", observed=True)["value"]
        out["frequency_holdout"] = by_hold.size().reindex(out.index).fillna(0).astype(np.int64)
        if value_col is not None:
            out["monetary_holdout"] = by_hold.mean().reindex(out.index).fillna(0.0)
        out["duration_holdout"] = float((obs_end - cal_end).days) / unit
    return out


def simulate_beta_geo(
    n_customers: int,
    T: float | np.ndarray,
    r: float,
    alpha: float,
    a: float,
    b: float,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw ``frequency``/``recency``/``T`` for customers of a known BG/NBD, for fit checks.

    Each customer gets ``lambda ~ Gamma(r, rate alpha)`` and ``p ~ Beta(a, b)``; from their first
    purchase at time 0 they buy after exponential gaps and, after each repeat purchase, drop out
    with probability ``p``, until age ``T`` (scalar or one per customer).
    """
    rng = np.random.default_rng(seed)
    ages = np.broadcast_to(np.asarray(T, dtype=float), (n_customers,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    now = np.zeros(n_customers)
    frequency = np.zeros(n_customers, dtype=np.int64)
    recency = np.zeros(n_customers)
    active = np.ones(n_customers, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1.0, idx.size) / lam[idx]
        bought = now[idx] <= ages[idx]
        buyers = idx[bought]
        frequency[buyers] += 1
        recency[buyers] = now[buyers]
        dropped = rng.random(buyers.size) < p[buyers]
        active[idx[~bought]] = False
        active[buyers[dropped]] = False
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": ages})


# -- shared machinery ------------------------------------------------------------------------
def _as_array(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _check_rft(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> None:
    """Refuse summaries no BTYD likelihood is defined for (they would give silent nonsense)."""
    if not (np.isfinite(frequency).all() and np.isfinite(recency).all() and np.isfinite(T).all()):
        raise ValueError("frequency, recency and T must be finite")
    if (frequency < 0).any() or (frequency != np.round(frequency)).any():
        raise ValueError("frequency must be a non-negative whole number of repeat purchases")
    if (recency < 0).any() or (recency > T * (1 + 1e-12)).any():
        raise ValueError("recency must lie between 0 and T")
    if ((frequency == 0) & (recency != 0)).any():
        raise ValueError("customers with frequency 0 must have recency 0")


def _collapse(*columns: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Identical rows once each with summed weights: the likelihood needs only the patterns."""
    stacked = np.column_stack(columns)
    w = np.ones(len(stacked)) if weights is None else np.asarray(weights, dtype=float)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=w, minlength=len(unique))
    return (*unique.T, summed)


def _wsum(w: np.ndarray, values: np.ndarray) -> float:
    """``sum(w * values)`` without BLAS: OpenBLAS threads dot products above ~10,000 elements,
    and on a busy machine waking its threads costs milliseconds per likelihood evaluation."""
    return float(np.sum(w * values))


def _log1mexp(u: np.ndarray) -> np.ndarray:
    """``log(1 - exp(u))`` for ``u <= 0`` without cancellation (Maechler 2012); -inf at 0."""
    u = np.minimum(u, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(u > -math.log(2.0), np.log(-np.expm1(u)), np.log1p(-np.exp(u)))


def _minimize(
    objective: Callable[[np.ndarray], Any],
    x0: np.ndarray,
    jac: bool | str,
) -> optimize.OptimizeResult:
    """L-BFGS-B on log-parameters, then Nelder-Mead from there if it did not converge.

    BLAS is held to one thread: L-BFGS-B's small matrix steps otherwise wake OpenBLAS's thread
    pool on every iteration, which measured 3x slower on a busy 2-core machine.
    """
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        result = optimize.minimize(
            objective,
            x0,
            jac=jac,
            method="L-BFGS-B",
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
        )
        if not result.success:
            value = (lambda z: objective(z)[0]) if jac is True else objective
            polished = optimize.minimize(
                value,
                result.x,
                method="Nelder-Mead",
                options={"maxiter": 20000, "xatol": 1e-9, "fatol": 1e-13},
            )
            if polished.fun <= result.fun:
                result = polished
    return result


class _PurchaseModel:
    """What BG/NBD and Pareto/NBD share: fitting plumbing, parameters, the fit record."""

    param_names: tuple[str, ...] = ()
    #: parameters that are rates per unit of time (they scale with the time unit)
    rate_params: tuple[str, ...] = ()
    #: ``True`` when ``_objective`` returns (value, gradient), else scipy's finite differences
    _jac: bool | str = "3-point"

    def __init__(self, penalizer: float = 0.0) -> None:
        if penalizer < 0:
            raise ValueError("penalizer must be >= 0")
        self.penalizer = float(penalizer)
        self.params: dict[str, float] = {}
        self.log_likelihood: float = float("nan")
        self.n_customers: int = 0
        self.fit_seconds: float = float("nan")
        self.converged: bool = False
        self.optimizer_message: str = ""

    @classmethod
    def from_params(cls, **params: float) -> Self:
        """A model with given parameters (e.g. published ones) and no fit."""
        model = cls()
        missing = set(cls.param_names) - set(params)
        if missing or set(params) - set(cls.param_names):
            raise ValueError(f"{cls.__name__} needs exactly {cls.param_names}")
        if any(not params[k] > 0 for k in cls.param_names):
            raise ValueError("all parameters must be positive")
        model.params = {k: float(params[k]) for k in cls.param_names}
        return model

    def _values(self) -> tuple[float, ...]:
        if not self.params:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return tuple(self.params[k] for k in self.param_names)

    # subclasses provide the per-row log-likelihood at given parameter values
    @staticmethod
    def _loglik(
        params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    def _objective(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> Callable[[np.ndarray], Any]:
        """Mean negative log-likelihood + penalty, as a function of log-parameters."""
        total = w.sum()

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            with np.errstate(all="ignore"):
                ll = self._loglik(params, x, t_x, T)
            value = -_wsum(w, ll) / total + self.penalizer * float(np.sum(params**2))
            return float(value) if np.isfinite(value) else 1e300

        return objective

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Self:
        """Maximum-likelihood fit on one row per customer (or per pattern, with ``weights``).

        Returns the model, with ``params``, ``log_likelihood`` (total, unpenalised, in the data's
        time unit), ``fit_seconds`` and ``converged`` set.
        """
        started = time.perf_counter()
        x, t_x, age = _as_array(frequency), _as_array(recency), _as_array(T)
        _check_rft(x, t_x, age)
        if age.max() <= 0 or not (x > 0).any():
            # no repeat purchases: the rate goes to 0 and the dropout parameters are unidentified
            raise ValueError("no customer has a repeat purchase or a positive age: nothing to fit")
        w = None if weights is None else _as_array(weights)
        x, t_x, age, w = _collapse(x, t_x, age, weights=w)
        scale = 1.0 / float(age.max())  # fit in a time unit where the oldest customer has age 1
        objective = self._objective(x, t_x * scale, age * scale, w)
        # start at 1 for every parameter in the scaled time (all shapes 1, rates ~ 1 per age)
        result = _minimize(objective, np.zeros(len(self.param_names)), self._jac)
        params = dict(zip(self.param_names, np.exp(result.x).tolist(), strict=True))
        for name in self.rate_params:
            params[name] = float(params[name] / scale)
        self.params = params
        with np.errstate(all="ignore"):
            self.log_likelihood = _wsum(w, self._loglik(self._values(), x, t_x, age))
        self.n_customers = int(round(w.sum()))
        self.converged = bool(result.success)
        self.optimizer_message = str(result.message)
        self.fit_seconds = time.perf_counter() - started
        return self

    def log_likelihood_per_customer(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Log-likelihood of each customer's ``(frequency, recency, T)`` at ``params``."""
        x, t_x, age = _as_array(frequency), _as_array(recency), _as_array(T)
        with np.errstate(divide="ignore"):
            return self._loglik(self._values(), x, t_x, age)

    def summary_dict(self) -> dict[str, Any]:
        """Parameters and fit record, JSON-ready."""
        return {
            "params": dict(self.params),
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "fit_seconds": self.fit_seconds,
            "converged": self.converged,
            "penalizer": self.penalizer,
        }


# -- BG/NBD ----------------------------------------------------------------------------------
class BetaGeoModel(_PurchaseModel):
    """BG/NBD (Fader, Hardie & Lee 2005), parameters ``r, alpha`` (purchase rate) and ``a, b``
    (dropout probability after each repeat purchase).

    The log-likelihood of a customer with ``x`` repeat purchases, last at ``t_x``, age ``T`` is
    ``ln Gamma(r+x) - ln Gamma(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)`` plus
    ``ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)]``; the last term is taken as a
    ``logaddexp`` of the two logs, so it neither under- nor overflows for heavy buyers. The
    gradient is analytic (digamma), which makes the full CDNOW fit take milliseconds.
    """

    param_names = ("r", "alpha", "a", "b")
    rate_params = ("alpha",)
    _jac = True

    @staticmethod
    def _parts(
        params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r, alpha, a, b = params
        base = (
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.betaln(a, b + x)
            - special.betaln(a, b)
        )
        log_alive = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        log_dead = np.where(
            repeat,
            np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
        mix = np.logaddexp(log_alive, log_dead)
        return base, log_alive, log_dead, mix

    @staticmethod
    def _loglik(
        params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        base, _, _, mix = BetaGeoModel._parts(params, x, t_x, T)
        return base + mix

    def _objective(
        self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        """Mean negative log-likelihood + penalty and its gradient in the log-parameters."""
        total = w.sum()
        repeat = x > 0
        bx1 = np.where(repeat, 0.0, 1.0)  # keeps b + x - 1 > 0 in the unused branch

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            r, alpha, a, b = params
            with np.errstate(all="ignore"):
                base, log_alive, log_dead, mix = self._parts(params, x, t_x, T)
                ll = base + mix
                dead = np.exp(log_dead - mix)  # share of the "dropped out at t_x" branch
                alive = 1.0 - dead
                psi = special.digamma
                d_r = (
                    psi(r + x)
                    - psi(r)
                    + np.log(alpha)
                    - alive * np.log(alpha + T)
                    - dead * np.log(alpha + t_x)
                )
                d_alpha = r / alpha - (r + x) * (alive / (alpha + T) + dead / (alpha + t_x))
                d_a = psi(a + b) - psi(a + b + x) + dead / a
                d_b = psi(b + x) - psi(b) + psi(a + b) - psi(a + b + x) - dead / (b + x - 1 + bx1)
            grad_ll = np.array([_wsum(w, d) for d in (d_r, d_alpha, d_a, d_b)]) * params
            value = -_wsum(w, ll) / total + self.penalizer * float(np.sum(params**2))
            grad = -grad_ll / total + 2.0 * self.penalizer * params**2
            if not (np.isfinite(value) and np.isfinite(grad).all()):
                return 1e300, np.zeros(4)
            return float(value), grad

        return objective

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

        Exactly 1 for ``x = 0``: in BG/NBD dropout can only happen right after a repeat purchase.
        """
        r, alpha, a, b = self._values()
        x, t_x, age = np.broadcast_arrays(_as_array(frequency), _as_array(recency), _as_array(T))
        log_odds_dead = (
            np.log(a)
            - np.log(b + np.maximum(x, 1) - 1)
            + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        )
        return np.where(x > 0, special.expit(-log_odds_dead), 1.0)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T], eq. (10) of Fader, Hardie & Lee (2005).

        ``(a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]``
        divided by ``1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)``, ``z = t/(alpha+T+t)``.
        The power times 2F1 is evaluated after Euler's transformation as
        ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose parameters do not grow with ``x``
        (the raw 2F1 overflows for heavy buyers). Undefined at exactly ``a = 1``.
        """
        r, alpha, a, b = self._values()
        t, x, t_x, age = np.broadcast_arrays(
            _as_array(t), _as_array(frequency), _as_array(recency), _as_array(T)
        )
        z = t / (alpha + age + t)
        c = a + b + x - 1
        decay = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        numerator = c / (a - 1) * (1.0 - decay)
        return numerator * self.probability_alive(x, t_x, age)

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a new customer, eq. (9) of Fader, Hardie & Lee:
        ``(a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]`` (with the same
        Euler transformation as :meth:`expected_purchases`)."""
        r, alpha, a, b = self._values()
        t = _as_array(t)
        z = t / (alpha + t)
        decay = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, a + b - 1, z)
        return (a + b - 1) / (a - 1) * (1.0 - decay)


# -- Pareto/NBD ------------------------------------------------------------------------------
def _pareto_log_a0(
    params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``ln A_0`` of the Pareto/NBD likelihood (Fader, Hardie & Lee's note, eq. 19-20).

    With ``m = max(alpha, beta)``, ``d = |alpha - beta|`` and ``c = r+s+x``,
    ``A_0 = F(t_x) - F(T)`` where ``F(t) = 2F1(c, k; c+1; d/(m+t)) / (m+t)^c``, ``k = s+1``
    when ``alpha >= beta`` and ``k = r+x`` otherwise. The branch keeps the argument in
    ``[0, 1)`` (the other one can fall below -1). Equivalently
    ``A_0 = c * integral_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du``, positive and 0 when
    ``t_x = T``; it is computed as ``ln F(t_x) + ln(1 - F(T)/F(t_x))`` so that neither the powers
    (``c`` reaches hundreds) nor the difference lose precision. Where scipy's 2F1 overflows or
    fails (argument within ~1e-6 of 1 with large ``c``: ``min(alpha, beta) << max``), that row
    falls back to adaptive quadrature of the integral, scaled by its value at ``t_x``.
    """
    r, alpha, s, beta = params
    c = r + s + x
    if alpha >= beta:
        m, d, k = alpha, alpha - beta, np.broadcast_to(s + 1.0, np.shape(x))
    else:
        m, d, k = beta, beta - alpha, r + x
    with np.errstate(all="ignore"):
        h_tx = special.hyp2f1(c, k, c + 1.0, d / (m + t_x))
        h_T = special.hyp2f1(c, k, c + 1.0, d / (m + T))
        log_f_tx = np.log(h_tx) - c * np.log(m + t_x)
        log_f_T = np.log(h_T) - c * np.log(m + T)
        out = log_f_tx + _log1mexp(log_f_T - log_f_tx)
    bad = ~(np.isfinite(log_f_tx) & np.isfinite(log_f_T) & (h_tx > 0) & (h_T > 0))
    bad &= t_x < T
    out = np.where(t_x >= T, -np.inf, out)
    for i in np.flatnonzero(bad):
        out[i] = _pareto_log_a0_quad(params, float(x[i]), float(t_x[i]), float(T[i]))
    return out


def _pareto_log_a0_quad(params: Sequence[float], x: float, t_x: float, T: float) -> float:
    """``ln A_0`` by quadrature of ``c * integral_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1)``.

    The integrand decreases in ``u``, so it is divided by its value at ``t_x`` (<= 1 inside) and
    that log-scale is added back: no under- or overflow for any parameter values.
    """
    r, alpha, s, beta = params
    if t_x >= T:
        return -math.inf

    def ratio(u: float) -> float:
        return math.exp(
            -(r + x) * math.log1p((u - t_x) / (alpha + t_x))
            - (s + 1) * math.log1p((u - t_x) / (beta + t_x))
        )

    # the integrand can fall by orders of magnitude within min(alpha, beta) + t_x of t_x: give
    # quad geometric breakpoints so it cannot step over the peak
    width = min(alpha, beta) + t_x
    steps = width * 2.0 ** np.arange(-4, 64)
    points = t_x + steps[steps < T - t_x]
    value, _ = integrate.quad(
        ratio, t_x, T, points=points, limit=50 * (len(points) + 1), epsabs=0.0, epsrel=1e-12
    )
    log_scale = -(r + x) * math.log(alpha + t_x) - (s + 1) * math.log(beta + t_x)
    return math.log(r + s + x) + log_scale + math.log(value)


class ParetoNBDModel(_PurchaseModel):
    """Pareto/NBD, parameters ``r, alpha`` (purchase rate) and ``s, beta`` (dropout rate).

    Log-likelihood (Fader, Hardie & Lee's note, eq. 18): ``ln Gamma(r+x) - ln Gamma(r)
    + r ln alpha + s ln beta + ln[(alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) A_0]``, with ``A_0``
    from :func:`_pareto_log_a0` and the bracket as a ``logaddexp``. There is no closed-form
    gradient (it would need 2F1's derivatives in its parameters), so L-BFGS-B uses central
    differences on the log-parameters.
    """

    param_names = ("r", "alpha", "s", "beta")
    rate_params = ("alpha", "beta")
    _jac = "3-point"

    @staticmethod
    def _loglik(
        params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        r, alpha, s, beta = params
        x, t_x, T = np.broadcast_arrays(x, t_x, T)
        base = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) - np.log(r + s + x) + _pareto_log_a0(params, x, t_x, T)
        return base + np.logaddexp(alive, dead)

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = self._values()
        return (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + _pareto_log_a0(self._values(), x, t_x, T)
        )

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A_0).

        Unlike BG/NBD this is below 1 for ``x = 0`` (the customer may have left right away).
        """
        x, t_x, age = np.broadcast_arrays(_as_array(frequency), _as_array(recency), _as_array(T))
        return special.expit(-self._log_odds_dead(x, t_x, age))

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T] (the note's eq. 41):
        ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``, with the
        ``s -> 1`` limit ``ln((beta+T+t)/(beta+T))`` handled without cancellation."""
        r, alpha, s, beta = self._values()
        t, x, t_x, age = np.broadcast_arrays(
            _as_array(t), _as_array(frequency), _as_array(recency), _as_array(T)
        )
        horizon = _power_integral(s - 1.0, np.log1p(t / (beta + age)))
        rate = (r + x) * (beta + age) / (alpha + age)
        return self.probability_alive(x, t_x, age) * rate * horizon

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a new customer (the note's eq. 27):
        ``r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]``."""
        r, alpha, s, beta = self._values()
        t = _as_array(t)
        return r * beta / alpha * _power_integral(s - 1.0, np.log1p(t / beta))


def _power_integral(k: float, log_growth: np.ndarray) -> np.ndarray:
    """``(1 - exp(-k L)) / k`` for ``L = log_growth`` (>= 0), and ``L`` itself as ``k -> 0``."""
    if abs(k) < 1e-12:
        return np.asarray(log_growth, dtype=float)
    return -np.expm1(-k * log_growth) / k


# -- Gamma-Gamma -----------------------------------------------------------------------------
class GammaGammaModel:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Hardie's note 025), parameters
    ``p, q, v``: order values are Gamma(p, nu) around a customer's mean ``p/nu``, and
    ``nu ~ Gamma(q, v)`` across customers. Fit on customers with repeat purchases and a positive
    mean repeat spend, using their ``frequency`` x and ``monetary`` mean m:
    ``ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(xm+v)`` (analytic gradient). It assumes spend is independent of frequency.
    """

    param_names = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0) -> None:
        if penalizer < 0:
            raise ValueError("penalizer must be >= 0")
        self.penalizer = float(penalizer)
        self.params: dict[str, float] = {}
        self.log_likelihood: float = float("nan")
        self.n_customers: int = 0
        self.fit_seconds: float = float("nan")
        self.converged: bool = False

    @classmethod
    def from_params(cls, p: float, q: float, v: float) -> GammaGammaModel:
        """A model with given parameters and no fit."""
        model = cls()
        model.params = {"p": float(p), "q": float(q), "v": float(v)}
        return model

    def _values(self) -> tuple[float, float, float]:
        if not self.params:
            raise RuntimeError("GammaGammaModel is not fitted")
        return self.params["p"], self.params["q"], self.params["v"]

    @staticmethod
    def _loglik(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, v = params
        return (
            special.gammaln(p * x + q)
            - special.gammaln(p * x)
            - special.gammaln(q)
            + q * np.log(v)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(x * m + v)
        )

    def fit(
        self, frequency: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None = None
    ) -> GammaGammaModel:
        """Maximum-likelihood fit; rows with ``frequency == 0`` or ``monetary <= 0`` are skipped
        (no repeat spend to learn from; a zero mean has no Gamma density)."""
        started = time.perf_counter()
        x, m = _as_array(frequency), _as_array(monetary)
        w = np.ones_like(x) if weights is None else _as_array(weights)
        keep = (x > 0) & (m > 0) & np.isfinite(m)
        if keep.sum() < 3:
            raise ValueError("Gamma-Gamma needs at least 3 customers with repeat purchases")
        x, m, w = _collapse(x[keep], m[keep], weights=w[keep])
        total = w.sum()
        log_x, log_m = np.log(x), np.log(m)
        psi = special.digamma

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            p, q, v = params
            with np.errstate(all="ignore"):
                ll = self._loglik(params, x, m)
                px = p * x
                log_xmv = np.log(x * m + v)
                d_p = x * (psi(px + q) - psi(px) + log_m + log_x - log_xmv)
                d_q = psi(px + q) - psi(q) + np.log(v) - log_xmv
                d_v = q / v - (px + q) / (x * m + v)
            grad_ll = np.array([_wsum(w, d) for d in (d_p, d_q, d_v)]) * params
            value = -_wsum(w, ll) / total + self.penalizer * float(np.sum(params**2))
            grad = -grad_ll / total + 2.0 * self.penalizer * params**2
            if not (np.isfinite(value) and np.isfinite(grad).all()):
                return 1e300, np.zeros(3)
            return float(value), grad

        # start at p = q = 1 and v = the typical mean spend (the scale of m)
        x0 = np.array([0.0, 0.0, math.log(float(np.median(m)))])
        result = _minimize(objective, x0, True)
        self.params = dict(zip(self.param_names, np.exp(result.x).tolist(), strict=True))
        self.log_likelihood = _wsum(w, self._loglik(self._values(), x, m))
        self.n_customers = int(round(total))
        self.converged = bool(result.success)
        self.fit_seconds = time.perf_counter() - started
        return self

    def conditional_expected_value(self, frequency: ArrayLike, monetary: ArrayLike) -> np.ndarray:
        """E[spend per future order | x, m] = p (v + x m) / (p x + q - 1): a weighted mean of the
        customer's own mean ``m`` (weight ``px/(px+q-1)``) and the population mean
        ``p v/(q-1)``; the population mean for ``x = 0``. Needs ``q > 1``."""
        p, q, v = self._values()
        x, m = np.broadcast_arrays(_as_array(frequency), _as_array(monetary))
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1)

    def population_mean_value(self) -> float:
        """Mean spend per order across customers, ``p v / (q - 1)`` (infinite for ``q <= 1``)."""
        p, q, v = self._values()
        return p * v / (q - 1) if q > 1 else math.inf

    def summary_dict(self) -> dict[str, Any]:
        """Parameters and fit record, JSON-ready."""
        return {
            "params": dict(self.params),
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "fit_seconds": self.fit_seconds,
            "converged": self.converged,
            "penalizer": self.penalizer,
        }


# -- value -----------------------------------------------------------------------------------
def customer_lifetime_value(
    bgnbd: BetaGeoModel | ParetoNBDModel,
    gamma_gamma: GammaGammaModel,
    summary: pd.DataFrame,
    horizon_periods: float,
    discount_rate_per_period: float,
    step: float = 1,
    columns: Mapping[str, str] | None = None,
) -> pd.Series:
    """Discounted expected value of each customer's purchases over the next ``horizon_periods``.

    The horizon is cut into steps of ``step`` periods (the last one shorter if it does not
    divide); step ``k`` ends at ``e_k = min(k * step, horizon)`` and contributes
    ``(E[N(e_k)] - E[N(e_{k-1})]) * spend / (1 + d)^e_k``, where ``E[N(t)]`` is the purchase
    model's conditional expected purchases, ``spend`` Gamma-Gamma's conditional expected value
    and ``d`` the discount rate per period. This is lifetimes' ``customer_lifetime_value``
    convention (each step's cash is discounted at the end of the step): its monthly
    ``discount_rate`` ``d_m`` with weekly data is ``step=4.345``, ``d = (1 + d_m)**(1/4.345) - 1``,
    ``horizon_periods = 4.345 * months``. ``columns`` renames ``frequency``, ``recency``, ``T``
    and ``monetary`` if the summary calls them otherwise.
    """
    if horizon_periods <= 0 or step <= 0:
        raise ValueError("horizon_periods and step must be positive")
    if discount_rate_per_period <= -1:
        raise ValueError("discount_rate_per_period must be > -1")
    names = {"frequency": "frequency", "recency": "recency", "T": "T", "monetary": "monetary"}
    names.update(columns or {})
    x = summary[names["frequency"]].to_numpy(dtype=float)
    t_x = summary[names["recency"]].to_numpy(dtype=float)
    age = summary[names["T"]].to_numpy(dtype=float)
    spend = gamma_gamma.conditional_expected_value(x, summary[names["monetary"]].to_numpy(float))
    n_steps = math.ceil(horizon_periods / step - 1e-9)
    ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon_periods)
    cumulative = np.stack([bgnbd.expected_purchases(e, x, t_x, age) for e in ends])
    increments = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.0 + discount_rate_per_period) ** -ends
    value = spend * np.sum(discount[:, None] * increments, axis=0)
    return pd.Series(value, index=summary.index, name="clv")
