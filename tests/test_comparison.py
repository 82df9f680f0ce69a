"""Tests of compare_candidates: the corrected resampled t-test by simulation,
its use on every kind of search, and its errors."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_iris, make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    LeaveOneOut,
    RandomizedSearchCV,
    RepeatedStratifiedKFold,
    ShuffleSplit,
)

from sknets import MLPClassifierTorch
from sknets.model_selection import GridSearchCV as FusedGridSearchCV
from sknets.model_selection import (
    bonferroni_adjust,
    compare_candidates,
    corrected_ttest,
    wilson_interval,
)
from sknets.model_selection._comparison import comparison_from_scores

ALPHA = 0.05


# -- the simulation: many small studies with a known truth ---------------------------


def simulate_study(seed, n_candidates=5, n_samples=1000, planted=0.02):
    """Scores of one study of SGD classifiers that differ only in random_state.

    Every candidate is the same learner, so there is no true difference
    (the null). The planted candidate is the last one with exactly
    ``planted`` of each test split's correct predictions turned wrong: a
    true difference of ``planted`` accuracy.

    Returns (null scores of shape (n_candidates, 10), planted scores (10,)).
    """
    X, y = make_classification(n_samples, 10, n_informative=5, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, flip_y=0.05,
                               class_sep=0.8, random_state=seed)
    rng = np.random.default_rng(seed)
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=seed)
    null, plant = np.empty((n_candidates, 10)), np.empty(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j, (train, test) in enumerate(cv.split(X, y)):
            for c in range(n_candidates):
                model = SGDClassifier(loss="log_loss", max_iter=5, tol=None,
                                      average=True, random_state=1000 * seed + c)
                pred = model.fit(X[train], y[train]).predict(X[test])
                null[c, j] = np.mean(pred == y[test])
                if c == n_candidates - 1:
                    right = np.flatnonzero(pred == y[test])
                    wrong = rng.choice(right, round(planted * len(test)),
                                       replace=False)
                    pred[wrong] = (y[test][wrong] + 1) % 3
                    plant[j] = np.mean(pred == y[test])
    return null, plant


def naive_any_worse(scores, alpha=ALPHA):
    """A plain paired t-test against the best (variance / k), adjusted alike."""
    best = int(np.argmax(scores.mean(axis=1)))
    p = [stats.ttest_1samp(scores[c] - scores[best], 0).pvalue
         for c in range(len(scores)) if c != best]
    return bool((bonferroni_adjust(p) < alpha).any())


def simulate(n_studies, seed=0):
    """Rates over ``n_studies``: false claims under the null (corrected and
    naive) and the share of planted effects found."""
    false_corrected = false_naive = found = 0
    for s in range(seed, seed + n_studies):
        null, plant = simulate_study(s)
        params = [{"random_state": c} for c in range(len(null))]
        comparison = comparison_from_scores(params, null, metric="accuracy",
                                            test_train_ratio=1 / 4, alpha=ALPHA)
        false_corrected += bool((~comparison.candidates["tied_with_best"]).any()
                                or comparison.effects["evidence"].any())
        false_naive += naive_any_worse(null)
        # A two-value study: the learner against its planted copy.
        planted = comparison_from_scores(
            [{"variant": "plain"}, {"variant": "planted"}],
            np.vstack([null[0], plant]), metric="accuracy", test_train_ratio=1 / 4)
        found += bool(planted.effects["evidence"].iloc[0])
    return (false_corrected / n_studies, false_naive / n_studies,
            found / n_studies)


def test_corrected_test_holds_alpha_where_naive_does_not_and_finds_planted():
    # 40 null studies and 40 planted ones: the corrected test's false claims
    # stay within alpha plus two standard errors, the naive test's exceed
    # alpha, and a planted 0.02 of accuracy is found in at least 80%.
    n = 40
    false_corrected, false_naive, found = simulate(n)
    margin = 2 * math.sqrt(ALPHA * (1 - ALPHA) / n)
    assert false_corrected <= ALPHA + margin
    assert false_naive > ALPHA
    assert false_naive > false_corrected
    assert found >= 0.8


# -- the statistics ------------------------------------------------------------------


def test_corrected_ttest_inflates_the_variance_by_the_overlap():
    # var * (1/k + ratio) against scipy's plain t-test (var / k).
    d = np.array([0.01, 0.03, -0.01, 0.02, 0.00, 0.02, 0.01, 0.04, 0.01, 0.02])
    mean, se, p = corrected_ttest(d, 0.25)
    assert se == pytest.approx(np.std(d, ddof=1) * math.sqrt(0.1 + 0.25))
    plain = stats.ttest_1samp(d, 0)
    assert p > plain.pvalue
    t = mean / se
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 9))
    # Constant differences have no variance: 0 -> p 1, else p 0.
    assert corrected_ttest(np.zeros(5), 0.25)[2] == 1.0
    assert corrected_ttest(np.full(5, -0.01), 0.25)[2] == 0.0
    assert math.isnan(corrected_ttest([0.5], 0.25)[1])


def test_bonferroni_adjust_and_simultaneous_intervals_agree():
    # m * p, capped at 1, NaN left out; evidence exactly where the effect's
    # simultaneous interval excludes 0.
    assert bonferroni_adjust([0.04, 0.01, 0.5]).tolist() == pytest.approx(
        [0.12, 0.03, 1.0])
    adjusted = bonferroni_adjust([np.nan, 0.2])
    assert math.isnan(adjusted[0]) and adjusted[1] == pytest.approx(0.2)
    rng = np.random.default_rng(1)
    for _ in range(30):
        scores = 0.9 + rng.normal(0, 0.01, (4, 10)) + rng.normal(0, 0.01, (4, 1))
        comparison = comparison_from_scores(
            [{"a": i % 2, "b": i // 2} for i in range(4)], scores,
            metric="accuracy", test_train_ratio=0.25)
        effects = comparison.effects
        excludes = (effects["ci_low"] > 0) | (effects["ci_high"] < 0)
        assert (excludes == effects["evidence"]).all()


def test_wilson_interval_covers_at_its_level():
    # Coverage of Wilson's interval for p=0.9, n=200 over 2000 draws.
    rng = np.random.default_rng(0)
    hits = [wilson_interval(k, 200)[0] <= 0.9 <= wilson_interval(k, 200)[1]
            for k in rng.binomial(200, 0.9, 2000)]
    assert 0.93 <= np.mean(hits) <= 0.97


# -- on searches ---------------------------------------------------------------------


X_IRIS, Y_IRIS = load_iris(return_X_y=True)
CV = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
GRID = {"C": [0.001, 0.1, 10.0]}


def _logistic():
    return LogisticRegression(max_iter=2000)


@pytest.mark.parametrize("make", [
    lambda: GridSearchCV(_logistic(), GRID, cv=CV),
    lambda: RandomizedSearchCV(_logistic(), GRID, n_iter=3, cv=CV, random_state=0),
    lambda: FusedGridSearchCV(_logistic(), GRID, cv=CV),
], ids=["GridSearchCV", "RandomizedSearchCV", "sknets GridSearchCV"])
def test_compares_every_kind_of_search(make):
    # The tiny C is worse with evidence; 0.1 and 10 are ranked with intervals.
    comparison = compare_candidates(make().fit(X_IRIS, Y_IRIS))
    frame = comparison.candidates
    assert list(frame.columns) == ["params", "mean", "std", "ci_low", "ci_high",
                                   "p_value", "tied_with_best"]
    assert comparison.n_splits == 10
    assert comparison.test_train_ratio == pytest.approx(0.25)
    assert frame["mean"].is_monotonic_decreasing
    assert math.isnan(frame["p_value"].iloc[0]) and frame["tied_with_best"].iloc[0]
    worst = frame[[p["C"] == 0.001 for p in frame["params"]]].iloc[0]
    assert not worst["tied_with_best"] and worst["p_value"] < ALPHA
    assert (frame["ci_low"] < frame["mean"]).all()
    assert (frame["mean"] < frame["ci_high"]).all()
    effects = comparison.effects
    assert set(effects["param"]) == {"C"} and len(effects) == 2
    assert bool(effects[effects["value"] == 0.001]["evidence"].iloc[0])


def test_halving_search_compares_its_last_iteration():
    # HalvingGridSearchCV: only the last iteration's candidates are compared.
    X, y = make_classification(600, 8, random_state=0)
    search = HalvingGridSearchCV(_logistic(), {"C": [0.001, 0.01, 0.1, 1, 10, 100]},
                                 cv=5, factor=3, random_state=0).fit(X, y)
    last = np.sum(np.asarray(search.cv_results_["iter"]) == search.n_iterations_ - 1)
    comparison = compare_candidates(search)
    assert len(comparison.candidates) == last < 6


def test_multimetric_search_takes_the_refit_metric_or_the_asked_one():
    search = GridSearchCV(_logistic(), GRID, cv=CV,
                          scoring=["accuracy", "f1_macro"], refit="f1_macro").fit(
        X_IRIS, Y_IRIS)
    assert compare_candidates(search).metric == "f1_macro"
    assert compare_candidates(search, scoring="accuracy").metric == "accuracy"
    with pytest.raises(ValueError, match="no metric 'roc_auc'.*accuracy"):
        compare_candidates(search, scoring="roc_auc")


@pytest.mark.parametrize("cv, ratio", [
    (3, 1 / 2), (KFold(4), 1 / 3), (ShuffleSplit(5, test_size=0.2, random_state=0),
                                     0.25)])
def test_ratio_comes_from_the_splitter(cv, ratio):
    search = GridSearchCV(_logistic(), GRID, cv=cv).fit(X_IRIS, Y_IRIS)
    assert compare_candidates(search).test_train_ratio == pytest.approx(ratio)


def test_bad_input_gets_a_clear_error():
    # Unfitted search, a dict without split scores, an unknown splitter.
    with pytest.raises(ValueError, match="not fitted"):
        compare_candidates(GridSearchCV(_logistic(), GRID))
    with pytest.raises(ValueError, match="no split scores"):
        compare_candidates({"params": [{"C": 1}], "mean_test_score": [0.9]})
    results = GridSearchCV(_logistic(), GRID, cv=CV).fit(X_IRIS, Y_IRIS).cv_results_
    with pytest.raises(ValueError, match="pass test_train_ratio"):
        compare_candidates(results)
    assert compare_candidates(results, test_train_ratio=0.25).n_splits == 10
    loo = GridSearchCV(_logistic(), GRID, cv=LeaveOneOut()).fit(X_IRIS[::5],
                                                               Y_IRIS[::5])
    with pytest.raises(ValueError, match="LeaveOneOut.*test_train_ratio"):
        compare_candidates(loo)
    with pytest.raises(ValueError, match="alpha"):
        compare_candidates(results, test_train_ratio=0.25, alpha=1.5)


def test_failed_fits_are_left_out_and_said():
    # A candidate with a NaN split score (error_score=nan) is listed in
    # failed, not ranked; all failing is an error.
    scores = np.array([[0.9, 0.91, 0.92], [0.8, np.nan, 0.82], [0.85, 0.86, 0.84]])
    params = [{"a": 1}, {"a": 2}, {"a": 3}]
    comparison = comparison_from_scores(params, scores, metric="accuracy",
                                        test_train_ratio=0.5)
    assert comparison.failed == [{"a": 2}]
    assert len(comparison.candidates) == 2
    assert any("left out" in s for s in comparison.summary())
    with pytest.raises(ValueError, match="every fit failed"):
        comparison_from_scores(params, np.full((3, 3), np.nan), metric="accuracy",
                               test_train_ratio=0.5)


def test_one_split_claims_no_evidence_and_shows_the_binomial_floor():
    # One holdout score per candidate: all tied, no p-values, the binomial
    # standard error as the interval.
    scores = np.array([[0.97], [0.90], [0.60]])
    comparison = comparison_from_scores([{"a": i} for i in range(3)], scores,
                                        metric="accuracy", test_train_ratio=None,
                                        n_test=300)
    frame = comparison.candidates
    assert frame["tied_with_best"].all() and frame["p_value"].isna().all()
    assert frame["std"].isna().all()
    se = math.sqrt(0.97 * 0.03 / 300)
    assert frame["ci_high"].iloc[0] - frame["mean"].iloc[0] == pytest.approx(
        1.959964 * se, rel=1e-4)
    assert comparison.binomial_se == pytest.approx(se)
    assert not comparison.effects["evidence"].any()
    text = " ".join(comparison.summary())
    assert "claims no evidence" in text and "mattered most" not in text


def test_effects_pair_on_the_other_parameters_and_say_what_is_missing():
    # A 2 x 2 grid with a planted effect of b, plus a lone candidate (a=3)
    # that shares no setting of b with the reference of a.
    rng = np.random.default_rng(0)
    base = 0.8 + rng.normal(0, 0.01, 10)
    params = [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}, {"a": 1, "b": "y"},
              {"a": 2, "b": "y"}, {"a": 3, "b": "z"}]
    scores = np.vstack([base, base + rng.normal(0, 0.002, 10),
                        base - 0.05 + rng.normal(0, 0.002, 10),
                        base - 0.05 + rng.normal(0, 0.002, 10),
                        base - 0.2])
    comparison = comparison_from_scores(params, scores, metric="accuracy",
                                        test_train_ratio=0.25)
    effects = comparison.effects.set_index(["param", "value"])
    assert effects.loc[("b", "y"), "reference"] == "x"
    assert effects.loc[("b", "y"), "difference"] == pytest.approx(-0.05, abs=0.003)
    assert bool(effects.loc[("b", "y"), "evidence"])
    assert not bool(effects.loc[("a", 2), "evidence"])
    assert math.isnan(effects.loc[("a", 3), "difference"])
    assert any("a=3 could not be estimated" in note for note in comparison.notes)
    assert any("b=z could not be estimated" in note for note in comparison.notes)
    sentences = comparison.effect_sentences()
    assert sentences[0].startswith("b mattered most: evidence")
    assert sentences[1].startswith("a: no evidence")
    display = comparison.plot_effects()
    assert len(display.ax_.get_yticklabels()) == 2  # the estimable effects


def test_sknets_fused_search_with_repeats_is_compared():
    # sknets' own estimator in its fused search under repeated K-fold.
    X, y = make_classification(300, 8, n_classes=3, n_informative=5,
                               random_state=0)
    X = X.astype(np.float32)
    cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
    search = FusedGridSearchCV(
        MLPClassifierTorch((16,), max_iter=15, random_state=0),
        {"learning_rate_init": [1e-4, 1e-2]}, cv=cv).fit(X, y)
    comparison = compare_candidates(search)
    assert comparison.n_splits == 6
    assert comparison.candidates["params"].iloc[0] == {"learning_rate_init": 0.01}
