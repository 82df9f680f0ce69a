"""Successive halving in compare: rungs, the planted best, epochs counted, resume."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from _holdout import compare
from sklearn.datasets import load_digits

from sknets import MLPClassifierTorch
from sknets.compare import _halving, candidate_name, halving_rungs
from sknets.compare._record import Record, Rung
from sknets.training import fused

# Nine learning rates; 0.01 is planted as the clear best on digits: the
# others are too small to learn much in 9 epochs.
PLANTED = {"learning_rate_init": [1e-2, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4,
                                  2e-4]}


@pytest.fixture
def digits_600(small_digits):
    X_train, _, y_train, _ = small_digits
    return X_train, y_train


def _estimator(**params):
    # No early stop before max_iter, so every epoch count is the planned one.
    params = {"max_iter": 9, **params}
    return MLPClassifierTorch((16,), n_iter_no_change=100, random_state=0,
                              device="cpu", **params)


def _records(output):
    return {p.stem: json.loads(p.read_text())
            for p in (output / "models").glob("*.json")}


def _scores(output):
    return pd.read_csv(output / "results.csv").drop(columns=["fit_time", "cpu_time"])


@pytest.mark.parametrize(("n_candidates", "max_iter", "factor", "expected"), [
    (9, 9, 3, [(1, 9), (3, 3), (9, 1)]),
    (12, 3, 3, [(1, 12), (3, 4)]),
    (6, 60, 3, [(20, 6), (60, 2)]),
    (4, 4, 2, [(1, 4), (2, 2), (4, 1)]),
    (1, 10, 3, [(10, 1)]),
    (10, 1, 3, [(1, 10)]),
])
def test_halving_rungs_follow_scikit_learns_schedule(n_candidates, max_iter, factor,
                                                     expected):
    assert halving_rungs(n_candidates, max_iter, factor) == expected


def test_halving_keeps_the_planted_best_with_fewer_epochs(tmp_path, digits_600):
    X, y = digits_600
    full = compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "grid",
                   verbose=False)
    halving = compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "halving",
                      verbose=False, search="halving")
    assert full.best_params_ == halving.best_params_ == {"learning_rate_init": 1e-2}
    # Rungs of 1, 3 and 9 epochs for 9, 3 and 1 candidates; a survivor goes on
    # from where it stood: 9 x 1 + 3 x 2 + 1 x 6 = 21 epochs, against 9 x 9.
    epochs = {name: r["epochs"] for name, r in _records(tmp_path / "halving").items()}
    assert sum(sum(e) for e in epochs.values()) == 21
    assert sum(sum(r["epochs"]) for r in _records(tmp_path / "grid").values()) == 81
    assert sorted(sum(e) for e in epochs.values()) == [1] * 6 + [3] * 2 + [9]
    best = candidate_name(halving.best_params_)
    assert len(halving.histories[best]) == 9  # one training, not three
    assert halving.best_estimator_.get_params()["max_iter"] == 9
    assert not halving.best_estimator_.get_params()["warm_start"]
    # Each candidate ranks by its score at the last rung it reached.
    assert halving.results["rung"].tolist() == [3, 2, 2] + [1] * 6
    record = _records(tmp_path / "halving")[best]
    assert [r["epochs"] for r in record["rungs"]] == [1, 3, 9]
    assert record["scores"] == record["rungs"][-1]["scores"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_halving_survivor_equals_its_warm_started_separate_fit(tmp_path,
                                                               digits_600):
    # The survivor's model is its rung fits continued: a 1-epoch fit, then
    # warm-start fits of 2 and 6 more epochs on the same training rows.
    X, y = digits_600
    result = compare(_estimator(), PLANTED, X, y, output_dir=tmp_path,
                     verbose=False, search="halving")
    from sknets.compare._study import make_study

    study = make_study(X, y, None, None, cv="holdout", scoring=None,
                       refit="f1_macro", test_size=0.2, validation_size=0.2,
                       random_state=0, class_names=None)
    model = _estimator(learning_rate_init=1e-2, max_iter=1)
    model.fit(study.X, study.y, validation_data=(study.X_val, study.y_val))
    for more in (2, 6):
        model.set_params(warm_start=True, max_iter=more).fit(
            study.X, study.y, validation_data=(study.X_val, study.y_val))
    got = result.best_estimator_.predict_proba(study.X_test)
    want = model.predict_proba(study.X_test)
    assert abs(got - want).max() < 1e-5


def _count_fits(monkeypatch, fail_at_rung=None):
    # Record how many candidates each rung trains; Ctrl-C at a rung.
    original, calls = _halving.execute, []

    def execute(estimator, todo, study, finished, progress, **kwargs):
        rung = 0 if kwargs.get("starts") is None else len(calls)
        calls.append(len(todo))
        if rung == fail_at_rung and todo:
            raise KeyboardInterrupt
        return original(estimator, todo, study, finished, progress, **kwargs)

    monkeypatch.setattr(_halving, "execute", execute)
    return calls


@pytest.mark.parametrize("cv", ["holdout", 2])
def test_interrupted_halving_resumes_at_its_rung(tmp_path, monkeypatch, digits_600,
                                                 cv):
    X, y = digits_600
    kwargs = {"verbose": False, "search": "halving", "cv": cv}
    _count_fits(monkeypatch, fail_at_rung=1)
    with pytest.raises(KeyboardInterrupt):
        compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", **kwargs)
    monkeypatch.undo()
    rung_files = sorted((tmp_path / "a" / "models").glob("*.rung0.fold*"))
    # K folds x 2 repeats (the default) per candidate with cv=K.
    assert len(rung_files) == 9 * (1 if cv == "holdout" else cv * 2)
    calls = _count_fits(monkeypatch)
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", **kwargs)
    assert calls == [0, 3, 1]  # rung 0 is not trained again
    monkeypatch.undo()
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "b", **kwargs)
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def test_interrupted_rung_keeps_no_half_trained_survivor(tmp_path, monkeypatch,
                                                         digits_600):
    # Ctrl-C in the second rung's stacked epochs: its survivors' records still
    # say rung 1, and a rerun's results equal an uninterrupted run's.
    X, y = digits_600
    original, count = fused._train_epoch, {"epochs": 0}

    def train_epoch(stack):
        count["epochs"] += 1
        if count["epochs"] == 2:  # rung 0 is one stacked epoch
            raise KeyboardInterrupt
        return original(stack)

    monkeypatch.setattr(fused, "_train_epoch", train_epoch)
    with pytest.raises(KeyboardInterrupt):
        compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a",
                verbose=False, search="halving")
    monkeypatch.undo()
    assert {len(r["rungs"]) for r in _records(tmp_path / "a").values()} == {1}
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", verbose=False,
            search="halving")
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "b", verbose=False,
            search="halving")
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def test_report_shows_the_rungs(tmp_path, digits_600):
    X, y = digits_600
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path, verbose=False,
            search="halving")
    text = (tmp_path / "report.md").read_text()
    assert "## Successive halving: the rungs" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 | 1 | 9 | 3")
            or line.startswith("| 2 | 3 | 3 | 1") or line.startswith("| 3 | 9 | 1 | 0")]
    assert len(rows) == 3
    assert "trained 21 epochs in all; the full grid would train 81" in text
    assert "successive halving (factor 3)" in text


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"search": "random"}, "search must be one of"),
    ({"search": "halving", "factor": 1}, "factor must be an int >= 2"),
    ({"search": "halving", "factor": 2.5}, "factor must be an int >= 2"),
])
def test_bad_search_options_say_what_to_change(tmp_path, digits_600, kwargs, match):
    X, y = digits_600
    with pytest.raises(ValueError, match=match):
        compare(_estimator(), PLANTED, X, y, output_dir=tmp_path, verbose=False,
                **kwargs)
    assert not tmp_path.joinpath("run.json").exists()


def test_halving_refuses_max_iter_in_the_grid(tmp_path, digits_600):
    X, y = digits_600
    with pytest.raises(ValueError, match="max_iter cannot be in the grid"):
        compare(_estimator(), {"max_iter": [3, 9]}, X, y, output_dir=tmp_path,
                verbose=False, search="halving")


def test_a_grid_folder_is_not_resumed_as_halving(tmp_path, digits_600):
    X, y = digits_600
    grid = {"learning_rate_init": [1e-2, 1e-3]}
    compare(_estimator(max_iter=2), grid, X, y, output_dir=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="another protocol"):
        compare(_estimator(max_iter=2), grid, X, y, output_dir=tmp_path,
                verbose=False, search="halving")


def test_cli_search_halving(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "sknets", "compare", "--search", "halving",
         "--max-iter", "3", "--param", "learning_rate_init=0.01,0.001,0.0001",
         "--output", str(out), "--quiet"], capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr
    assert "rung" in done.stdout.splitlines()[0]
    assert "## Successive halving: the rungs" in (out / "report.md").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "sknets", "compare", "--search", "halving",
         "--factor", "1", "--output", str(tmp_path / "bad")],
        capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--factor must be an integer >= 2" in bad.stderr


def test_tampered_rung_record_is_trained_again(tmp_path, digits_600):
    # A record whose rungs are damaged does not count: its candidate trains
    # again, and the run's results equal an untouched run's.
    X, y = digits_600
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", verbose=False,
            search="halving")
    name = candidate_name({"learning_rate_init": 1e-2})
    path = tmp_path / "a" / "models" / f"{name}.json"
    record = json.loads(path.read_text())
    for damage in ("x", [{"epochs": "1", "status": "done", "scores": {}}], []):
        path.write_text(json.dumps({**record, "rungs": damage}))
        result = compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a",
                         verbose=False, search="halving")
        assert name in result.fitted
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "b", verbose=False,
            search="halving")
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def _first_rung_model(output, monkeypatch, X, y):
    # A halving run stopped by Ctrl-C after its first rung; the first fold
    # model the best candidate (learning rate 0.01) saved at that rung.
    _count_fits(monkeypatch, fail_at_rung=1)
    with pytest.raises(KeyboardInterrupt):
        compare(_estimator(), PLANTED, X, y, output_dir=output, verbose=False,
                search="halving")
    monkeypatch.undo()
    name = candidate_name({"learning_rate_init": 1e-2})
    return output / "models" / f"{name}.rung0.fold0.safetensors"


def test_missing_rung_model_trains_its_candidate_again(tmp_path, monkeypatch,
                                                       digits_600):
    # Ctrl-C after the first rung, then a survivor's rung model is deleted:
    # the rerun trains that candidate from its first rung again instead of
    # failing, with the same results as an uninterrupted run.
    X, y = digits_600
    _first_rung_model(tmp_path / "a", monkeypatch, X, y).unlink()
    calls = _count_fits(monkeypatch)
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", verbose=False,
            search="halving")
    assert calls == [1, 3, 1]
    monkeypatch.undo()
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "b", verbose=False,
            search="halving")
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def _rungs(*scores):
    # A record whose rungs scored these means ('diverged' for None).
    rungs = [Rung(3, "diverged" if s is None else "done", {"accuracy": [s]})
             for s in scores]
    return Record("x", {}, rungs[-1].status, rungs[-1].scores, 1.0, [3], [[]],
                  rungs=rungs)


def test_nan_scores_rank_last_when_survivors_are_chosen():
    nan = float("nan")
    records = {"A": _rungs(0.5), "B": _rungs(nan), "C": _rungs(0.9), "D": _rungs(0.7)}
    assert _halving.survivors(records, list(records), 0, 2, "accuracy") == ["C", "D"]
    table = _halving.rung_table(records, list(records), "accuracy")
    assert table[0]["best_name"] == "C"


def test_a_survivor_that_diverges_later_never_ranks_above_a_finished_one(
        tmp_path):
    # (32,) identity units with heavy momentum: learning rate 3.0 survives
    # the first rung and diverges in the second.
    X, y = load_digits(return_X_y=True)
    X = X / 16
    est = MLPClassifierTorch((32,), activation="identity", solver="sgd",
                             momentum=0.9, lr_warmup=8, max_iter=9, random_state=0)
    result = compare(est, {"learning_rate_init": [3.0, 0.01, 0.003]}, X, y,
                     output_dir=tmp_path, verbose=False, search="halving", factor=3)
    results = pd.read_csv(tmp_path / "results.csv")
    assert "diverged" in set(results["status"])  # the fault's condition holds
    assert results.loc[0, "status"] == "done"
    statuses = list(results["status"])
    assert statuses == sorted(statuses, key=lambda status: status != "done")
    finished = results[results["status"] == "done"]
    assert result.best_params_["learning_rate_init"] == finished.iloc[0][
        "learning_rate_init"]


def test_a_damaged_rung_model_names_the_file_and_the_way_to_recover(
        tmp_path, monkeypatch, digits_600):
    from sknets.persistence import ModelFileError
    X, y = digits_600
    damaged = _first_rung_model(tmp_path / "a", monkeypatch, X, y)
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    with pytest.raises(ModelFileError, match=rf"{damaged.name}.*delete it"):
        compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a",
                verbose=False, search="halving")
    damaged.unlink()  # as the message says
    compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "a", verbose=False,
            search="halving")
    assert (tmp_path / "a" / "results.csv").exists()


def test_a_changed_grid_retrains_rungs_that_do_not_fit_the_new_schedule(tmp_path,
                                                                        digits_600):
    # Three candidates give rungs of 3 and 9 epochs; nine give 1, 3 and 9. The
    # old records' rungs do not fit the new schedule: the rerun trains those
    # candidates again, and no model trains past max_iter.
    X, y = digits_600
    out = tmp_path / "study"
    three = {"learning_rate_init": PLANTED["learning_rate_init"][:3]}
    compare(_estimator(), three, X, y, output_dir=out, verbose=False,
            search="halving")
    again = compare(_estimator(), PLANTED, X, y, output_dir=out, verbose=False,
                    search="halving")
    fresh = compare(_estimator(), PLANTED, X, y, output_dir=tmp_path / "fresh",
                    verbose=False, search="halving")
    assert max(len(h) for h in again.histories.values()) == 9
    for record in _records(out).values():
        epochs = [rung["epochs"] for rung in record["rungs"]]
        assert epochs == [1, 3, 9][:len(epochs)]
    pd.testing.assert_frame_equal(_scores(out), _scores(tmp_path / "fresh"))
    assert again.best_params_ == fresh.best_params_


_STUDY = """
import sys
import numpy as np
from sklearn.datasets import load_digits
from sknets import MLPClassifierTorch
from sknets.compare import compare
X, y = load_digits(return_X_y=True)
grid = {"learning_rate_init": [1e-2, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4]}
est = MLPClassifierTorch((16,), max_iter=9, n_iter_no_change=100, random_state=0,
                         device="cpu")
compare(est, grid, X[:600] / 16, y[:600], output_dir=sys.argv[1], cv=2, repeats=1,
        verbose=False, search="halving")
"""


def _run_study(output):
    namespace = {"__name__": "study"}
    argv, sys.argv = sys.argv, ["study", str(output)]
    try:
        exec(_STUDY, namespace)  # noqa: S102 - the same study as the subprocess
    finally:
        sys.argv = argv


def _n_files(folder):
    # The files the rungs write (models and records): the refit, evaluation
    # and report come after the last of them.
    models = folder / "models"
    return sum(1 for p in models.iterdir() if p.is_file()) if models.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    output = tmp_path_factory.mktemp("halving") / "whole"
    _run_study(output)
    return _scores(output), _n_files(output)


@pytest.mark.parametrize("point", [0.1, 0.3, 0.5, 0.7, 0.85])
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_halving_stopped_at_any_point_resumes_to_the_same_results(
        tmp_path, uninterrupted, how, point):
    # The study runs in a process of its own, stopped by Ctrl-C (SIGINT) or
    # killed (SIGKILL) once its folder holds the given share of the model and
    # record files of a whole run: in a rung, between rungs, while saving, in
    # the last rung. The rerun's results.csv is the uninterrupted run's.
    import signal
    import time

    scores, n_total = uninterrupted
    output = tmp_path / "study"
    process = subprocess.Popen(
        [sys.executable, "-c", _STUDY, str(output)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while (process.poll() is None and _n_files(output) < point * n_total
           and time.monotonic() < deadline):
        time.sleep(0.01)
    process.send_signal(getattr(signal, how))
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0, "the study ended before the signal"
    if how == "SIGINT":
        assert "KeyboardInterrupt" in err
    _run_study(output)
    pd.testing.assert_frame_equal(_scores(output), scores)
