"""How sure a comparison of search candidates is.

Every split of a cross-validation trains on most of the same rows as every
other, so split scores are correlated and a plain t-test over them is
overconfident. The corrected resampled t-test of Nadeau and Bengio (2003)
inflates the variance of a mean over ``k`` splits from ``var / k`` to
``var * (1 / k + n_test / n_train)``; Bouckaert and Frank (2004) showed it
keeps its level on repeated K-fold. ``compare_candidates`` applies it to a
fitted search: an interval for each candidate's mean score, a test of each
candidate against the best, and the effect of each varied parameter, paired
on the other parameters and on the split, with Bonferroni's adjustment for
the number of comparisons made (tests and intervals agree: an adjusted
p-value is below ``alpha`` exactly when the simultaneous interval of the
difference excludes 0).
"""

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import model_selection as _sk

from .._typing import ArrayLike

__all__ = [
    "CandidateComparison",
    "bootstrap_interval",
    "compare_candidates",
    "corrected_ttest",
    "bonferroni_adjust",
    "wilson_interval",
]


# -- the statistics ------------------------------------------------------------------


def corrected_ttest(differences: ArrayLike,
                    test_train_ratio: float) -> tuple[float, float, float]:
    """The corrected resampled t-test of a mean over correlated splits.

    Parameters
    ----------
    differences : array-like of shape (n_splits,)
        One value per split: a score, or a paired difference of two scores.
    test_train_ratio : float
        ``n_test / n_train`` of the splits (1 / (K - 1) for K-fold).

    Returns
    -------
    mean : float
        The mean over the splits.
    se : float
        Its standard error, ``sqrt(var * (1 / k + test_train_ratio))`` with
        the sample variance ``var`` (Nadeau and Bengio, 2003); NaN for one
        split.
    p_value : float
        Two-sided p-value of "the true mean is 0" on ``k - 1`` degrees of
        freedom; NaN for one split. Values equal on every split have no
        variance: the p-value is 1 when they are 0, else 0.

    Examples
    --------
    >>> from sknets.model_selection import corrected_ttest
    >>> mean, se, p = corrected_ttest([0.02, 0.01, 0.03, 0.02, 0.02], 0.25)
    >>> round(mean, 3), round(se, 4), round(p, 3)
    (0.02, 0.0047, 0.014)
    """
    d = np.asarray(differences, dtype=float)
    k = len(d)
    mean = float(np.mean(d)) if k else math.nan
    if k < 2:
        return mean, math.nan, math.nan
    se = math.sqrt(float(np.var(d, ddof=1)) * (1 / k + test_train_ratio))
    if se == 0 or se < 1e-12 * max(1.0, abs(mean)):
        return mean, 0.0, 1.0 if mean == 0 else 0.0
    p = 2 * float(stats.t.sf(abs(mean) / se, df=k - 1))
    return mean, se, p


def _interval(mean, se, k, alpha):
    if not (k >= 2 and np.isfinite(se)):
        return math.nan, math.nan
    half = float(stats.t.ppf(1 - alpha / 2, df=k - 1)) * se
    return mean - half, mean + half


def bonferroni_adjust(p_values: ArrayLike) -> np.ndarray:
    """Bonferroni's adjustment of p-values for multiple comparisons.

    Parameters
    ----------
    p_values : array-like
        Unadjusted p-values; NaN entries are left out of the family and stay
        NaN.

    Returns
    -------
    adjusted : ndarray
        ``min(1, m * p)`` for the ``m`` p-values present: rejecting those
        below ``alpha`` keeps the chance of any false rejection in the
        family at most ``alpha``. Unlike Holm's step-down rule, it matches
        the simultaneous intervals at level ``1 - alpha / m``: an adjusted
        p-value is below ``alpha`` exactly when that interval excludes 0.

    Examples
    --------
    >>> from sknets.model_selection import bonferroni_adjust
    >>> bonferroni_adjust([0.01, 0.04, 0.5]).round(2).tolist()
    [0.03, 0.12, 1.0]
    """
    p = np.asarray(p_values, dtype=float)
    m = int(np.sum(~np.isnan(p)))
    return np.minimum(1.0, p * m)


def wilson_interval(successes: float, n: int,
                    alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval of a proportion (e.g. test accuracy).

    Parameters
    ----------
    successes : int
        Number of successes (correct predictions).
    n : int
        Number of trials (test samples).
    alpha : float, default=0.05
        One minus the confidence level.

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> from sknets.model_selection import wilson_interval
    >>> [round(v, 4) for v in wilson_interval(95, 100)]
    [0.8882, 0.9785]
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(statistic: Callable[..., float], *arrays: ArrayLike,
                       n_resamples: int = 1000, alpha: float = 0.05,
                       random_state: int | None = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of paired arrays.

    Parameters
    ----------
    statistic : callable
        ``statistic(*resampled_arrays)`` returns a float (e.g. macro-F1 of
        ``y_true, y_pred``).
    *arrays : array-like
        Arrays of equal length, resampled together by row.
    n_resamples : int, default=1000
        Number of bootstrap samples.
    alpha : float, default=0.05
        One minus the confidence level.
    random_state : int, default=0
        Seed of the resampling.

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> import numpy as np
    >>> from sknets.model_selection import bootstrap_interval
    >>> x = np.arange(100.0)
    >>> low, high = bootstrap_interval(np.mean, x)
    >>> bool(low < 49.5 < high)
    True
    """
    columns = [np.asarray(a) for a in arrays]
    n = len(columns[0])
    rng = np.random.default_rng(random_state)
    values = np.empty(n_resamples)
    for i in range(n_resamples):
        rows = rng.integers(0, n, n)
        values[i] = statistic(*(a[rows] for a in columns))
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# -- reading a search ----------------------------------------------------------------


def _ratio_of_splitter(cv):
    """n_test / n_train of a splitter, or None when it cannot be known."""
    if cv is None or (isinstance(cv, Integral) and not isinstance(cv, bool)):
        k = 5 if cv is None else int(cv)
        return 1 / (k - 1)
    if isinstance(cv, (_sk.RepeatedKFold, _sk.RepeatedStratifiedKFold)):
        return 1 / (cv.cvargs.get("n_splits", 5) - 1)
    if isinstance(cv, (_sk.KFold, _sk.StratifiedKFold, _sk.GroupKFold,
                       _sk.StratifiedGroupKFold)):
        return 1 / (cv.n_splits - 1)
    if isinstance(cv, (_sk.ShuffleSplit, _sk.StratifiedShuffleSplit,
                       _sk.GroupShuffleSplit)):
        test, train = cv.test_size, cv.train_size
        if test is None and train is None:
            test = 0.1
        if isinstance(test, float) and train is None:
            return test / (1 - test)
        if isinstance(train, float) and test is None:
            return (1 - train) / train
        if isinstance(test, float) and isinstance(train, float):
            return test / train
        if isinstance(test, Integral) and isinstance(train, Integral):
            return test / train
    return None


def _metric_of(search, results, scoring):
    metrics = sorted(key[len("mean_test_"):] for key in results
                     if key.startswith("mean_test_"))
    if scoring is not None:
        if scoring not in metrics:
            raise ValueError(f"The search recorded no metric {scoring!r}; it has "
                             f"{metrics or ['score']}.")
        return scoring
    if "mean_test_score" in results:
        return "score"
    refit = getattr(search, "refit", None)
    if isinstance(refit, str) and refit in metrics:
        return refit
    if len(metrics) == 1:
        return metrics[0]
    raise ValueError(f"The search has several metrics {metrics} and no refit "
                     "metric: pass scoring= with the one to compare.")


def _split_scores(results, metric):
    keys = []
    while f"split{len(keys)}_test_{metric}" in results:
        keys.append(f"split{len(keys)}_test_{metric}")
    if not keys:
        raise ValueError(
            f"The results hold no split scores of {metric!r} (keys "
            f"'split0_test_{metric}', ...): compare_candidates needs the score "
            "of every split, as scikit-learn's searches record them in "
            "cv_results_.")
    return np.column_stack([np.asarray(results[key], dtype=float) for key in keys])


def _key(value):
    return repr(value)


class CandidateComparison:
    """The candidates of a search compared with their uncertainty.

    Made by ``compare_candidates``; see it for the method.

    Attributes
    ----------
    candidates : pandas.DataFrame
        One row per candidate whose every split was scored, best first:
        ``params``, ``mean``, ``std`` (of the split scores, as in
        ``cv_results_``), ``ci_low``, ``ci_high`` (the corrected interval of
        the mean), ``p_value`` (the corrected paired test against the best,
        Bonferroni-adjusted; NaN for the best) and ``tied_with_best``.
    effects : pandas.DataFrame
        One row per varied parameter and value other than its best:
        ``param``, ``value``, ``reference`` (the parameter's best value),
        ``difference`` (score at ``value`` minus at ``reference``, paired on
        the other parameters and on the split), ``ci_low``, ``ci_high`` (its
        simultaneous interval: level ``1 - alpha / m`` for the ``m`` effects),
        ``p_value`` (Bonferroni-adjusted over every effect) and ``evidence``
        (the interval excludes 0).
    metric : str
        The compared metric.
    alpha : float
        The test level; intervals are ``1 - alpha``.
    n_splits : int
        Scores per candidate.
    test_train_ratio : float or None
        The splits' ``n_test / n_train``.
    binomial_se : float or None
        With one split: the binomial standard error of the best candidate's
        score as a proportion (a floor on its uncertainty), when the number
        of validation rows is known.
    failed : list of dict
        Parameters of candidates left out because a split score is not
        finite (a failed or diverged fit).
    notes : list of str
        What could not be estimated, and why.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold
    >>> from sknets.model_selection import compare_candidates
    >>> X, y = load_iris(return_X_y=True)
    >>> cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
    >>> search = GridSearchCV(LogisticRegression(max_iter=1000),
    ...                       {"C": [0.001, 1.0, 10.0]}, cv=cv).fit(X, y)
    >>> comparison = compare_candidates(search)
    >>> comparison.candidates[["params", "tied_with_best"]]
             params  tied_with_best
    0   {'C': 10.0}            True
    1    {'C': 1.0}            True
    2  {'C': 0.001}           False
    >>> comparison.effects[["value", "reference", "evidence"]]
       value  reference  evidence
    0  0.001       10.0      True
    1  1.000       10.0     False
    """

    def __init__(self, candidates: pd.DataFrame, effects: pd.DataFrame, *, metric: str,
                 alpha: float, n_splits: int, test_train_ratio: float | None,
                 binomial_se: bool | None = None, failed: Sequence[str] = (),
                 notes: Sequence[str] = ()) -> None:
        self.candidates = candidates
        self.effects = effects
        self.metric = metric
        self.alpha = alpha
        self.n_splits = n_splits
        self.test_train_ratio = test_train_ratio
        self.binomial_se = binomial_se
        self.failed = list(failed)
        self.notes = list(notes)

    @property
    def one_split(self):
        """bool: only one score per candidate, so no test can be made."""
        return self.n_splits < 2

    @property
    def tied(self):
        """pandas.DataFrame: the rows of ``candidates`` tied with the best."""
        return self.candidates[self.candidates["tied_with_best"]]

    def _level(self):
        return f"{1 - self.alpha:.0%}"

    def interval_text(self, low: float, high: float, simultaneous: bool = False) -> str:
        """'95% CI 0.951 to 0.968', or '' where the interval is unknown.

        Parameters
        ----------
        low, high : float
            The interval.
        simultaneous : bool, default=False
            Say that it is one of the effects' simultaneous intervals.

        Returns
        -------
        text : str
        """
        if not (np.isfinite(low) and np.isfinite(high)):
            return ""
        kind = "simultaneous " if simultaneous else ""
        return f"{kind}{self._level()} CI {low:.3f} to {high:.3f}"

    def summary(self, describe: Callable[[dict], str] | None = None) -> list[str]:
        """The sentences a report gives about this comparison.

        Parameters
        ----------
        describe : callable, default=None
            Turns a candidate's params into text; None writes
            ``name=value`` pairs.

        Returns
        -------
        sentences : list of str
            The best with its interval and the candidates tied with it; one
            sentence per varied parameter with its differences, intervals
            and whether there is evidence; notes on what could not be
            estimated.
        """
        describe = describe or _describe
        rows = self.candidates
        if not len(rows):
            return [f"No candidate has a finite {self.metric} on every split."]
        best = rows.iloc[0]
        interval = self.interval_text(best["ci_low"], best["ci_high"])
        if self.one_split:
            floor = ("" if self.binomial_se is None else
                     f" (± {self.binomial_se:.3f}, the binomial standard error of "
                     "a proportion on the validation rows, a floor on its "
                     "uncertainty)")
            sentences = [
                f"Best: {describe(best['params'])}, {self.metric} "
                f"{best['mean']:.4f}{floor}.",
                "One validation split gives no estimate of how much the scores "
                "move between training sets, so this comparison claims no "
                "evidence of any difference: repeat the splits (cross-validation "
                "repeated at least twice) to test them."]
        else:
            sentences = [
                f"Best: {describe(best['params'])}, {self.metric} {best['mean']:.4f}"
                f" ({interval}, over {self.n_splits} splits)."]
            n_tied = int(rows["tied_with_best"].sum()) - 1
            n_other = len(rows) - 1
            if n_other == 0:
                pass
            elif n_tied == 0:
                sentences.append(
                    f"Every other candidate is worse than the best with evidence "
                    f"(corrected resampled t-test, Bonferroni-adjusted, alpha "
                    f"{self.alpha:g}).")
            else:
                count = ("The other candidate" if n_other == 1 else
                         "Both other candidates" if n_tied == n_other == 2 else
                         f"All {n_other} other candidates" if n_tied == n_other
                         else f"{n_tied} of the {n_other} other candidates")
                sentences.append(
                    f"{count} "
                    f"{'is' if n_tied == 1 else 'are'} indistinguishable from the "
                    f"best (corrected resampled t-test, Bonferroni-adjusted, alpha "
                    f"{self.alpha:g}): the data do not tell "
                    f"{'it' if n_tied == 1 else 'them'} apart from it.")
        sentences += self.effect_sentences()
        if self.failed:
            sentences.append(
                f"{len(self.failed)} candidate(s) are left out: a split score is "
                "not finite (a failed or diverged fit).")
        return sentences + self.notes

    def effect_sentences(self) -> list[str]:
        """One sentence per varied parameter, the one with evidence first.

        Returns
        -------
        sentences : list of str
            A parameter whose differences have no evidence says "no
            evidence"; "mattered most" is said only of the parameter with
            evidence whose difference is largest.
        """
        if not len(self.effects):
            return []
        sentences = []
        order = []
        for param, rows in self.effects.groupby("param", sort=False):
            estimable = rows[np.isfinite(rows["difference"].to_numpy(float))]
            evidence = bool(rows["evidence"].any())
            size = float(np.abs(estimable["difference"]).max()) if len(estimable) \
                else 0.0
            order.append((not evidence, -size, param, rows, evidence))
        order.sort(key=lambda item: item[:2])
        lead_done = False
        for _, _, param, rows, evidence in order:
            parts = []
            for _, row in rows.iterrows():
                if not np.isfinite(row["difference"]):
                    parts.append(f"{_text(row['value'])}: not estimable")
                    continue
                interval = self.interval_text(row["ci_low"], row["ci_high"],
                                              simultaneous=True)
                p = ("" if not np.isfinite(row["p_value"])
                     else f", adjusted p {row['p_value']:.3g}")
                parts.append(f"{_text(row['value'])} {row['difference']:+.4f}"
                             + (f" ({interval}{p})" if interval else ""))
            reference = _text(rows.iloc[0]["reference"])
            if evidence:
                lead = f"{param} mattered most" if not lead_done else param
                lead_done = True
                verdict = "evidence of a difference"
                strong = [_text(v) for v, e in zip(rows["value"], rows["evidence"],
                                                   strict=True) if e]
                verdict += f" at {', '.join(strong)}"
            else:
                lead = param
                verdict = "no evidence of a difference" + (
                    "" if not self.one_split else " (one split: no test)")
            sentences.append(f"{lead}: {verdict}; against {reference}: "
                             f"{'; '.join(parts)}.")
        return sentences

    def __str__(self):
        return "\n".join(self.summary())

    def __repr__(self):
        return (f"<CandidateComparison of {len(self.candidates)} candidates on "
                f"{self.metric}, {self.n_splits} split(s), {len(self.tied)} tied "
                "with the best>")

    def plot_effects(self, ax: Any = None, title: str | None = None) -> Any:
        """A forest plot of the effects: each difference with its interval.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a figure.
        title : str, default=None
            Axes title.

        Returns
        -------
        display : sknets.plotting.FigureDisplay
            Filled markers are differences with evidence, hollow ones those
            without; the line at 0 is "no difference".
        """
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        from ..plotting import FigureDisplay, text

        rows = self.effects[np.isfinite(self.effects["difference"].to_numpy(float))]
        if ax is None:
            fig = Figure(figsize=(9, 1.6 + 0.4 * max(1, len(rows))),
                         layout="constrained")
            ax = fig.subplots()
        else:
            fig = ax.figure
        ys = np.arange(len(rows))[::-1]
        for y, (_, row) in zip(ys, rows.iterrows(), strict=True):
            low, high = row["ci_low"], row["ci_high"]
            colour = "C3" if row["evidence"] else "C0"
            if np.isfinite(low) and np.isfinite(high):
                ax.plot([low, high], [y, y], "-", color=colour, lw=2)
            ax.plot([row["difference"]], [y], "o", color=colour,
                    mfc=colour if row["evidence"] else "white", ms=7)
        ax.axvline(0, color="0.3", lw=1, ls="--")
        ax.set_yticks(ys, [text(f"{row['param']} = {_text(row['value'])} vs "
                                f"{_text(row['reference'])}")
                           for _, row in rows.iterrows()])
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel(f"difference in {self.metric} (simultaneous {self._level()} "
                      "CI)")
        ax.grid(alpha=0.3, axis="x")
        ax.set_title(text(title or "effects: filled = evidence of a difference"))
        return FigureDisplay(fig, ax)


def _text(value):
    from ..plotting import _value_text

    return _value_text(value)


def _describe(params):
    return ", ".join(f"{k}={_text(v)}" for k, v in params.items()) or "defaults"


# -- the comparison ------------------------------------------------------------------


def _candidate_table(params, scores, ratio, alpha, binomial_floor):
    k = scores.shape[1]
    means = scores.mean(axis=1)
    best = int(np.argmax(means))
    order = np.argsort(-means, kind="stable")
    raw_p = np.full(len(params), np.nan)
    rows = []
    for i in range(len(params)):
        mean, se, _ = corrected_ttest(scores[i], ratio)
        low, high = _interval(mean, se, k, alpha)
        if k < 2 and binomial_floor is not None:
            half = float(stats.norm.ppf(1 - alpha / 2)) * binomial_floor(mean)
            low, high = mean - half, mean + half
        if i != best and k >= 2:
            raw_p[i] = corrected_ttest(scores[i] - scores[best], ratio)[2]
        rows.append({"params": params[i], "mean": float(mean),
                     "std": float(np.std(scores[i])) if k >= 2 else math.nan,
                     "ci_low": low, "ci_high": high})
    adjusted = bonferroni_adjust(raw_p)
    for i, row in enumerate(rows):
        row["p_value"] = adjusted[i]
        # One split: nothing can be told apart, so nothing is called worse.
        row["tied_with_best"] = bool(i == best or k < 2 or adjusted[i] >= alpha)
    frame = pd.DataFrame([rows[i] for i in order],
                         columns=["params", "mean", "std", "ci_low", "ci_high",
                                  "p_value", "tied_with_best"])
    return frame, order


def _effect_rows(params, scores, ratio, alpha):
    """The effects table and notes on what could not be paired."""
    k = scores.shape[1]
    names = []
    for p in params:
        names += [name for name in p if name not in names]
    missing = object()
    rows, notes = [], []
    for name in names:
        values = {}
        for p in params:
            value = p.get(name, missing)
            values.setdefault(_key(value), value)
        if len(values) < 2:
            continue
        # Cells: the candidates that share every other parameter.
        cells = {}
        for i, p in enumerate(params):
            other = _key(sorted((n, _key(v)) for n, v in p.items() if n != name))
            cells.setdefault(other, {})[_key(p.get(name, missing))] = i
        marginal = {key: float(np.mean([scores[i].mean() for cell in cells.values()
                                        for v, i in cell.items() if v == key]))
                    for key in values}
        reference = max(marginal, key=lambda key: marginal[key])
        for key, value in values.items():
            if key == reference:
                continue
            paired = [cell for cell in cells.values() if key in cell
                      and reference in cell]
            row = {"param": name, "value": _shown(value, missing),
                   "reference": _shown(values[reference], missing),
                   "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                   "p_value": math.nan, "evidence": False}
            if not paired:
                notes.append(
                    f"The effect of {name}={_text(row['value'])} could not be "
                    f"estimated: no candidate at {name}="
                    f"{_text(row['reference'])} shares its other parameters.")
                rows.append(row)
                continue
            n_cells = sum(key in cell for cell in cells.values())
            if len(paired) < n_cells:
                notes.append(
                    f"The effect of {name}={_text(row['value'])} is paired on "
                    f"{len(paired)} of its {n_cells} settings of the other "
                    "parameters; the others have no candidate at "
                    f"{name}={_text(row['reference'])}.")
            d = np.mean([scores[cell[key]] - scores[cell[reference]]
                         for cell in paired], axis=0)  # (n_splits,)
            mean, se, p = corrected_ttest(d, ratio)
            row["difference"], row["p_value"], row["se"] = mean, p, se
            rows.append(row)
    # Simultaneous intervals over the m effects tested (Bonferroni).
    m = max(1, sum(np.isfinite(row["p_value"]) for row in rows))
    for row in rows:
        if np.isfinite(row["difference"]):
            row["ci_low"], row["ci_high"] = _interval(row["difference"],
                                                      row.pop("se"), k, alpha / m)
        row.pop("se", None)
    frame = pd.DataFrame(rows, columns=["param", "value", "reference", "difference",
                                        "ci_low", "ci_high", "p_value", "evidence"])
    if len(frame):
        frame["p_value"] = bonferroni_adjust(frame["p_value"].to_numpy(float))
        frame["evidence"] = (frame["p_value"] < alpha).to_numpy(bool)
    return frame, notes


def _shown(value, missing):
    return "(not set)" if value is missing else value


def comparison_from_scores(params, scores, *, metric, test_train_ratio, alpha=0.05,
                           n_test=None):
    """A ``CandidateComparison`` of candidates' split scores.

    Parameters
    ----------
    params : list of dict
        The candidates' parameters.
    scores : array-like of shape (n_candidates, n_splits)
        Each candidate's score on each split, the splits in the same order
        for every candidate (paired).
    metric : str
        The metric's name.
    test_train_ratio : float or None
        ``n_test / n_train`` of the splits; needed with two splits or more.
    alpha : float, default=0.05
        Test level.
    n_test : int, default=None
        Validation rows of the one split, for the binomial floor.

    Returns
    -------
    comparison : CandidateComparison
    """
    if not (isinstance(alpha, Real) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}.")
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] != len(params) or scores.shape[1] == 0:
        raise ValueError(f"scores must have shape (n_candidates={len(params)}, "
                         f"n_splits), got {scores.shape}.")
    k = scores.shape[1]
    if k >= 2 and (test_train_ratio is None or not test_train_ratio > 0):
        raise ValueError("test_train_ratio (n_test / n_train of the splits, "
                         "1 / (K - 1) for K-fold) is needed to correct the variance; "
                         f"got {test_train_ratio!r}.")
    finite = np.isfinite(scores).all(axis=1)
    failed = [p for p, ok in zip(params, finite, strict=True) if not ok]
    if not finite.any():
        raise ValueError(f"No candidate has a finite {metric} on every split: "
                         "every fit failed or diverged, so nothing can be compared.")
    kept = [p for p, ok in zip(params, finite, strict=True) if ok]
    scores = scores[finite]
    floor = None
    if k < 2 and n_test:
        def floor(mean):
            p = min(max(mean, 0.0), 1.0)
            return math.sqrt(p * (1 - p) / n_test)
    candidates, _ = _candidate_table(kept, scores, test_train_ratio, alpha, floor)
    effects, notes = _effect_rows(kept, scores, test_train_ratio, alpha)
    binomial_se = None if floor is None else floor(float(candidates["mean"].iloc[0]))
    return CandidateComparison(candidates, effects, metric=metric, alpha=alpha,
                               n_splits=k, test_train_ratio=test_train_ratio,
                               binomial_se=binomial_se, failed=failed, notes=notes)


def compare_candidates(search: Any, *, scoring: str | None = None, alpha: float = 0.05,
                       test_train_ratio: float | None = None,
                       n_test: int | None = None) -> CandidateComparison:
    """Compare the candidates of a fitted search, with intervals and tests.

    Parameters
    ----------
    search : fitted search or dict
        scikit-learn's or sknets' ``GridSearchCV``, ``RandomizedSearchCV``,
        ``HalvingGridSearchCV`` or ``HalvingRandomSearchCV`` (any
        ``BaseSearchCV``), or a ``cv_results_`` dict. Halving searches
        compare the candidates of their last iteration.
    scoring : str, default=None
        The metric of a multimetric search; None takes the refit metric (or
        the only one).
    alpha : float, default=0.05
        Test level; intervals are ``1 - alpha``.
    test_train_ratio : float, default=None
        ``n_test / n_train`` of the splits. None reads it from the search's
        splitter: K-fold (plain, stratified, grouped or repeated) gives
        ``1 / (K - 1)``, shuffle splits their sizes. A dict or another
        splitter needs it.
    n_test : int, default=None
        With one split only: the number of validation rows, for the binomial
        standard error shown as a floor.

    Returns
    -------
    comparison : CandidateComparison

    Notes
    -----
    Each candidate's mean over ``k`` splits gets the corrected resampled
    t-interval (Nadeau and Bengio, 2003; Bouckaert and Frank, 2004): its
    variance is ``var * (1 / k + n_test / n_train)``, not ``var / k``,
    because the splits share training rows. Each candidate is tested against
    the best on paired split differences, and each parameter value against
    the parameter's best value, paired on the other parameters and on the
    split; Bonferroni's adjustment holds the chance of any false claim in
    each family at ``alpha``, and the effects' intervals are simultaneous
    (level ``1 - alpha / m``), so an effect has evidence exactly when its
    interval excludes 0. With one split there is no estimate of training
    variance, and no evidence is claimed. The candidates are picked by the
    same scores that test them; the correction is conservative enough to
    hold ``alpha`` in simulated studies with no true difference (see the
    user guide's "How sure is a comparison?").

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknets.model_selection import compare_candidates
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=1000),
    ...                       {"C": [0.01, 1.0]}, cv=5).fit(X, y)
    >>> comparison = compare_candidates(search)
    >>> comparison.n_splits, round(comparison.test_train_ratio, 2)
    (5, 0.25)
    >>> print(comparison.summary()[0])
    Best: C=1, score 0.9733 (95% CI 0.921 to 1.025, over 5 splits).
    """
    results: Any
    owner: Any
    if isinstance(search, dict):
        results, owner = search, None
    else:
        results = getattr(search, "cv_results_", None)
        if results is None:
            raise ValueError(f"{type(search).__name__} is not fitted (it has no "
                             "cv_results_): call fit first, or pass a cv_results_ "
                             "dict.")
        owner = search
    if "params" not in results:
        raise ValueError("The results have no 'params': pass a search's "
                         "cv_results_.")
    metric = _metric_of(owner, results, scoring)
    scores = _split_scores(results, metric)
    params = list(results["params"])
    if "iter" in results:  # successive halving: its last iteration's candidates
        iters = np.asarray(results["iter"])
        last = iters == iters.max()
        scores = scores[last]
        params = [p for p, keep in zip(params, last, strict=True) if keep]
    if test_train_ratio is None and scores.shape[1] >= 2:
        test_train_ratio = _ratio_of_splitter(getattr(owner, "cv", None)) \
            if owner is not None else None
        if test_train_ratio is None:
            source = ("a cv_results_ dict" if owner is None else
                      f"the splitter {getattr(owner, 'cv', None)!r}")
            raise ValueError(
                f"The test/train size ratio of {source} is unknown: pass "
                "test_train_ratio=n_test / n_train (1 / (K - 1) for K-fold).")
    if metric == "score" and isinstance(getattr(owner, "scoring", None), str):
        metric = owner.scoring  # the name of the search's one scorer
    return comparison_from_scores(params, scores, metric=metric,
                                  test_train_ratio=test_train_ratio, alpha=alpha,
                                  n_test=n_test)
