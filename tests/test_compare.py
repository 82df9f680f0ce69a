"""sknets compare: the CLI, the runner, resuming, the report and the plots."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from _holdout import compare
from sklearn.metrics import balanced_accuracy_score, make_scorer

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.cli import main
from sknets.compare import _report as report_module
from sknets.compare import candidate_name
from sknets.metrics import make_scoring
from sknets.training.net import SknetsNet

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- command line -------------------------------------------------------------------


def test_unknown_parameter_lists_the_valid_ones(capsys):
    # A misspelt name is refused with the list of names.
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--param", "hiden_layer_sizes=(10,)"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Unknown parameter 'hiden_layer_sizes'" in error
    assert "hidden_layer_sizes" in error and "learning_rate_init" in error


@pytest.mark.parametrize("value", ["hidden_layer_sizes=(128,", "alpha", "alpha=",
                                   "alpha=1e-3,[2"])
def test_unparseable_value_shows_the_syntax(capsys, value):
    # Broken values get the --param syntax with examples.
    with pytest.raises(SystemExit):
        main(["compare", "--param", value])
    error = capsys.readouterr().err
    assert "--param NAME=V1,V2" in error and "hidden_layer_sizes=(128,);(256,128)" \
        in error


def test_bad_options_are_refused(capsys, tmp_path):
    # Folds, datasets and config fields are checked.
    with pytest.raises(SystemExit):
        main(["compare", "--cv", "1"])
    assert "number of folds >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--dataset", "cifar"])
    assert "Unknown --dataset 'cifar'" in capsys.readouterr().err
    config = tmp_path / "study.toml"
    config.write_text('model = "mlp"\nepochs = 3\n')
    with pytest.raises(SystemExit):
        main(["compare", "--config", str(config)])
    assert "Unknown field(s) ['epochs']" in capsys.readouterr().err


def test_end_to_end_run_writes_every_file(tmp_path, capsys):
    # A tiny study through the CLI: results, reports, figures and models.
    output = tmp_path / "run"
    status = main(["compare", "--max-iter", "3", "--param",
                   "learning_rate_init=0.01,0.001", "--param",
                   "hidden_layer_sizes=(16,);(16,8)", "--output", str(output),
                   "--quiet"])
    assert status == 0
    assert "best: {" in capsys.readouterr().out
    results = pd.read_csv(output / "results.csv")
    assert len(results) == 4
    assert {"learning_rate_init", "hidden_layer_sizes", "width", "depth", "status",
            "mean_f1_macro", "std_f1_macro", "mean_roc_auc_9", "fit_time", "cpu_time",
            "epochs"} <= set(results.columns)
    assert results["mean_f1_macro"].is_monotonic_decreasing
    assert set(results["status"]) == {"done"}
    # The default protocol: 10 splits, so every candidate has an interval.
    assert {"ci_low", "ci_high", "tied_with_best"} <= set(results.columns)
    assert (results["ci_low"] < results["mean_f1_macro"]).all()
    assert results["std_f1_macro"].notna().all()
    effects = pd.read_csv(output / "effects.csv")
    assert list(effects.columns) == ["param", "value", "reference", "difference",
                                     "ci_low", "ci_high", "p_value", "evidence"]
    assert set(effects["param"]) == {"learning_rate_init", "hidden_layer_sizes"}
    figures = {p.name for p in (output / "figures").iterdir()}
    assert figures == {"parallel_coordinates.png", "score_vs_learning_rate_init.png",
                       "score_vs_depth.png", "curves_overlaid.png", "effects.png",
                       "confusion_matrix.png", "roc_curves.png"}
    models = sorted(p.name for p in (output / "models").glob("*.safetensors"))
    assert len(models) == 4 and (output / "best_model.safetensors").exists()
    assert (output / "report.md").read_text().startswith("# Comparison of 4 ")


def test_config_file_and_module_entry_point(tmp_path):
    # A TOML study through `python -m sknets`.
    config = tmp_path / "study.toml"
    config.write_text(f'max_iter = 2\noutput = "{tmp_path / "run"}"\n'
                      "[params]\nhidden_layer_sizes = [[8], [8, 8]]\n")
    done = subprocess.run([sys.executable, "-m", "sknets", "compare", "--config",
                           str(config), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(results["hidden_layer_sizes"]) == ["(8, 8)", "(8,)"]


def test_config_class_weight_keys_weight_integer_labels(tmp_path):
    # TOML table keys are strings: {"0" = 5.0} weights the digit 0.
    config = tmp_path / "study.toml"
    config.write_text(f'max_iter = 1\ncv = "holdout"\noutput = "{tmp_path / "run"}"\n'
                      '[params]\nhidden_layer_sizes = [[8]]\n'
                      'class_weight = [{"0" = 5.0}]\n')
    assert main(["compare", "--config", str(config), "--quiet"]) in (0, None)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "5.0" in json.dumps(record["candidates"])


@pytest.mark.parametrize("field, message", [
    ("output = 5", "output in .* is 5; it must be a folder name"),
    ("params = [1, 2]", r"params in .* is \[1, 2\]; it must be a table"),
    ("scheduler = 5", "scheduler in .* is 5; it must be an address"),
    ("max_iter = true", "max_iter in .* is True; it must be an integer"),
    ("param = [1]", r"param in .* is \[1\]; it must be a string or a list"),
])
def test_config_fields_of_the_wrong_type_are_named(tmp_path, capsys, field, message):
    # Each field's type is checked, with an example of the right one.
    config = tmp_path / "study.toml"
    config.write_text(field + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--config", str(config)])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_config_param_string_is_one_parameter(tmp_path, capsys):
    # param = "alpha=1e-4,1e-2" is one NAME=VALUES, not a list of its letters.
    config = tmp_path / "study.toml"
    config.write_text(f'param = "alpha=0.0001,0.01"\nmax_iter = 2\n'
                      f'output = "{tmp_path / "run"}"\n')
    assert main(["compare", "--config", str(config), "--quiet"]) == 0
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(results["alpha"]) == [0.0001, 0.01]


def test_repeated_param_is_refused(capsys):
    # A second --param alpha=... used to replace the first silently.
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--param", "alpha=0.1", "--param", "alpha=0.2"])
    assert exit_info.value.code == 2
    assert "--param alpha is given twice" in capsys.readouterr().err


def test_invalid_parameter_leaves_the_folder_free(tmp_path, capsys):
    # --max-iter 0 is refused before run.json is written, so the folder can
    # still take a valid run.
    output = tmp_path / "run"
    assert main(["compare", "--max-iter", "0", "--output", str(output),
                 "--quiet"]) == 2
    assert "max_iter" in capsys.readouterr().err
    assert not (output / "run.json").exists()
    assert main(["compare", "--max-iter", "1", "--param", "alpha=0.1",
                 "--output", str(output), "--quiet"]) == 0


def test_output_path_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    # A file where the output folder should be: exit 2, no traceback.
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    for output in (blocker, blocker / "run"):
        assert main(["compare", "--max-iter", "1", "--param", "alpha=0.1",
                     "--output", str(output), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert f"{blocker} is a file" in error and "Traceback" not in error


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions do not bind root")
def test_read_only_output_is_a_clear_error(tmp_path, capsys):
    # A folder without write permission: exit 2 with the folder named.
    output = tmp_path / "locked"
    output.mkdir()
    output.chmod(0o555)
    try:
        assert main(["compare", "--max-iter", "1", "--param", "alpha=0.1",
                     "--output", str(output / "run"), "--quiet"]) == 2
    finally:
        output.chmod(0o755)
    assert "Cannot create the output folder" in capsys.readouterr().err


def test_a_network_too_large_for_memory_is_a_clear_error(tmp_path, capsys):
    # hidden_layer_sizes=(1000000000,) gives the weight count, not torch's
    # allocator traceback.
    status = main(["compare", "--max-iter", "1", "--param",
                   "hidden_layer_sizes=(1000000000,)", "--output",
                   str(tmp_path / "run"), "--quiet"])
    assert status == 2
    error = capsys.readouterr().err
    assert "75,000,000,010 weights" in error and "hidden_layer_sizes" in error


# -- the runner ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_600(small_digits):
    X_train, _, y_train, _ = small_digits
    return X_train, y_train


def _interrupt_epoch(monkeypatch, at):
    # Ctrl-C during the `at`-th training epoch of this process.
    original = SknetsNet.run_single_epoch
    count = {"epochs": 0}

    def run_single_epoch(self, iterator, training, *args, **kwargs):
        if training:
            count["epochs"] += 1
            if count["epochs"] == at:
                raise KeyboardInterrupt
        return original(self, iterator, training, *args, **kwargs)

    monkeypatch.setattr(SknetsNet, "run_single_epoch", run_single_epoch)
    return lambda: monkeypatch.setattr(SknetsNet, "run_single_epoch", original)


def _interrupt_fused_epoch(monkeypatch, at):
    # Ctrl-C during the `at`-th epoch of the stacks this process trains.
    from sknets.training import fused

    original, count = fused._train_epoch, {"epochs": 0}

    def train_epoch(stack):
        count["epochs"] += 1
        if count["epochs"] == at:
            raise KeyboardInterrupt
        return original(stack)

    monkeypatch.setattr(fused, "_train_epoch", train_epoch)
    return lambda: monkeypatch.setattr(fused, "_train_epoch", original)


def _scores(output):
    return pd.read_csv(output / "results.csv").drop(columns=["fit_time", "cpu_time"])


def test_interrupted_candidate_is_not_kept_and_its_rerun_matches(
        tmp_path, monkeypatch, digits_600):
    # Two widths cannot train together: two groups, one after the other. Ctrl-C
    # in the second one's 3rd epoch: compare stops, keeps only the first
    # candidate, and the rerun's results equal an uninterrupted run's.
    X, y = digits_600
    grid = {"hidden_layer_sizes": [(16,), (12,)]}
    estimator = MLPClassifierTorch(max_iter=4, random_state=0, device="cpu")
    restore = _interrupt_epoch(monkeypatch, at=4 + 3)
    with pytest.raises(KeyboardInterrupt):
        compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    restore()
    records = sorted(p.name for p in (tmp_path / "a" / "models").glob("*.json"))
    assert records == [candidate_name({"hidden_layer_sizes": (16,)}) + ".json"]
    result = compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    assert len(result.reused) == 1 and len(result.fitted) == 1
    compare(estimator, grid, X, y, output_dir=tmp_path / "b", verbose=False)
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def test_interrupted_fused_group_keeps_none_of_its_candidates(
        tmp_path, monkeypatch, digits_600):
    # Candidates that differ in learning rate train as one stack: Ctrl-C in its
    # 3rd epoch keeps no candidate of the group half-trained, and the rerun's
    # results equal an uninterrupted run's.
    X, y = digits_600
    grid = {"learning_rate_init": [1e-2, 1e-3, 3e-3]}
    estimator = MLPClassifierTorch((16,), max_iter=4, random_state=0, device="cpu")
    restore = _interrupt_fused_epoch(monkeypatch, at=3)
    with pytest.raises(KeyboardInterrupt):
        compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    restore()
    assert not list((tmp_path / "a" / "models").glob("*.json"))
    result = compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    assert len(result.reused) == 0 and len(result.fitted) == 3
    compare(estimator, grid, X, y, output_dir=tmp_path / "b", verbose=False)
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def test_interrupted_fit_says_so(digits_600, monkeypatch):
    # The estimator tells its caller that Ctrl-C stopped it.
    X, y = digits_600
    _interrupt_epoch(monkeypatch, at=3)
    with pytest.warns(UserWarning, match="interrupted by user after 2"):
        clf = MLPClassifierTorch((8,), max_iter=5, random_state=0).fit(X, y)
    assert clf.interrupted_ and clf.n_iter_ == 2
    assert not MLPClassifierTorch((8,), max_iter=2, random_state=0).fit(
        X, y).interrupted_


def test_sigint_exits_130_and_the_rerun_matches(tmp_path):
    # A real Ctrl-C (SIGINT to the process) while the second candidate trains
    # (two widths: two groups, trained one after the other).
    script = ("import sys; from sknets.cli import main; sys.exit(main(["
              "'compare', '--max-iter', '400', '--param', "
              "'hidden_layer_sizes=(32,),(24,)',"
              " '--param', 'n_iter_no_change=1000',"
              f" '--output', {str(tmp_path / 'a')!r}, '--quiet']))")
    process = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    models = tmp_path / "a" / "models"
    deadline = time.monotonic() + 120
    while not list(models.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the second candidate's epochs
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert len(list(models.glob("*.json"))) == 1
    for folder in ("a", "b"):
        assert main(["compare", "--max-iter", "400", "--param",
                     "hidden_layer_sizes=(32,),(24,)", "--param",
                     "n_iter_no_change=1000",
                     "--output", str(tmp_path / folder), "--quiet"]) == 0
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


def test_diverged_candidate_ranks_last_and_the_run_goes_on(tmp_path, capsys):
    # sgd at lr=1e6 diverges: it is recorded as diverged with NaN scores, ranks
    # last, shows as 'diverged', and a rerun reuses it.
    args = ["compare", "--max-iter", "6", "--param", "solver=sgd", "--param",
            "learning_rate_init=0.01,1e6", "--param", "batch_size=2000", "--output",
            str(tmp_path), "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["status"].tolist() == ["done", "diverged"]
    assert results["learning_rate_init"].tolist() == [0.01, 1e6]
    assert results.loc[1, [c for c in results if c.startswith("mean_")]].isna().all()
    report = (tmp_path / "report.md").read_text()
    assert "| 2 | 1e+06 | diverged |  |  | diverged |" in report  # no interval
    assert "1 candidate(s) are left out" in report
    capsys.readouterr()
    assert main(args) == 0
    assert "resumed: 2 candidate(s)" in capsys.readouterr().out


def test_every_candidate_diverged_is_an_error_with_a_report(tmp_path, capsys):
    # No best model to test: exit 2, with the ranking and report written.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["compare", "--max-iter", "3", "--param", "solver=sgd",
                       "--param", "learning_rate_init=1e7,1e8", "--param",
                       "batch_size=2000", "--output", str(tmp_path), "--quiet"])
    assert status == 2
    assert "All 2 candidates diverged" in capsys.readouterr().err
    assert set(pd.read_csv(tmp_path / "results.csv")["status"]) == {"diverged"}
    assert "Every candidate diverged" in (tmp_path / "report.md").read_text()


def test_candidate_names_are_unique_file_names():
    # Parameters that print alike get different names; names stay short and safe.
    long = {"conv_layers": tuple((32, 3) for _ in range(30))}
    name = candidate_name(long)
    assert len(name) <= 100 and "/" not in name
    pairs = [({"conv_layers": ((8, (3, 3)),)}, {"conv_layers": ((8, 3, 3),)}),
             ({"learning_rate_init": 0.01234567}, {"learning_rate_init": 0.01234568}),
             ({"alpha": 1}, {"alpha": 1.0}), ({"loss": "mse"}, {"loss": "mae"})]
    for a, b in pairs:
        assert candidate_name(a) != candidate_name(b), a
    assert candidate_name({"alpha": 0.1, "tol": 1e-3}) == candidate_name(
        {"tol": 1e-3, "alpha": 0.1})


def test_candidates_that_print_alike_are_kept_apart(tmp_path, digits_600):
    # Two learning rates that print alike: two models, one row each.
    X, y = digits_600
    result = compare(MLPClassifierTorch((8,), max_iter=3, random_state=0),
                     {"learning_rate_init": [0.01234567, 0.01234568]}, X, y,
                     output_dir=tmp_path, verbose=False)
    assert len(list((tmp_path / "models").glob("*.safetensors"))) == 2
    assert sorted(result.results["learning_rate_init"]) == [0.01234567, 0.01234568]
    assert len(set(result.histories)) == 2


def test_resume_fits_only_what_is_missing(tmp_path, monkeypatch, digits_600):
    # Two groups of two candidates (one per width); interrupted in the second
    # group, the rerun fits its two.
    X, y = digits_600
    grid = {"hidden_layer_sizes": [(16,), (12,)], "alpha": [1e-4, 1e-2]}
    estimator = MLPClassifierTorch(max_iter=2, random_state=0, device="cpu")
    restore = _interrupt_fused_epoch(monkeypatch, at=2 + 1)
    with pytest.raises(KeyboardInterrupt):
        compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False)
    restore()
    result = compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False)
    assert len(result.reused) == 2 and len(result.fitted) == 2
    assert len(result.results) == 4
    # A third run fits nothing; another estimator in the folder is refused.
    assert compare(estimator, grid, X, y, output_dir=tmp_path,
                   verbose=False).fitted == []
    with pytest.raises(ValueError, match="holds a run on other data"):
        compare(MLPClassifierTorch(max_iter=3), grid, X, y,
                output_dir=tmp_path, verbose=False)
    # A folder of an earlier run-folder format is named as such.
    run = tmp_path / "run.json"
    run.write_text(run.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(ValueError, match="another version of sknets"):
        compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False)


def test_rerun_with_other_scorers_fits_what_lacks_them(tmp_path, digits_600):
    # Adding a scorer used to raise KeyError; now the candidates are scored
    # with it (refitted), and a rerun with fewer scorers reuses them.
    X, y = digits_600
    estimator = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False,
            scoring={"f1_macro": "f1_macro"})
    scoring = {**make_scoring(np.unique(y)),
               "balanced": make_scorer(balanced_accuracy_score)}
    result = compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False,
                     scoring=scoring)
    assert len(result.fitted) == 2 and "mean_balanced" in result.results
    assert "balanced" in (tmp_path / "report.md").read_text()
    again = compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False,
                    scoring={"f1_macro": "f1_macro", "accuracy": "accuracy"})
    assert again.fitted == [] and len(again.reused) == 2


def test_cross_validation_refits_the_best_once(tmp_path, digits_600, monkeypatch):
    # cv=3: scores have a spread; the best is refitted once on all the training
    # data (never loaded and thrown away), and save_all's refits include it.
    X, y = digits_600
    full = []
    fit = MLPClassifierTorch.fit

    trial_rows = 2 * len(set(y))  # the plan's check of each candidate

    def counting_fit(self, X_fit, *args, **kwargs):
        if len(X_fit) != trial_rows:
            full.append(len(X_fit) == len(X) - round(0.2 * len(X)))
        return fit(self, X_fit, *args, **kwargs)

    finish, finished = MLPClassifierTorch._finish_fit, []

    def counting_finish(self, *args, **kwargs):
        if self.n_features_in_ and self.max_iter > 1:  # not a trial epoch
            finished.append(self)
        return finish(self, *args, **kwargs)

    monkeypatch.setattr(MLPClassifierTorch, "fit", counting_fit)
    monkeypatch.setattr(MLPClassifierTorch, "_finish_fit", counting_finish)
    result = compare(MLPClassifierTorch((16,), max_iter=30, random_state=0,
                                        device="cpu"),
                     {"alpha": [1e-4, 1e-1]}, X, y, cv=3, save_all=True,
                     output_dir=tmp_path, verbose=False)
    assert (result.results["std_f1_macro"] > 0).all()
    # Folds train together (fit_on_folds); the two refits are plain fits.
    # 3 folds x 2 repeats (the default) per candidate.
    assert full.count(True) == 2 and full.count(False) == 0
    assert len(finished) == 2 * 3 * 2 + 2
    assert result.best_estimator_.n_iter_ == 30
    assert len(list((tmp_path / "models").glob("*.refit.safetensors"))) == 2
    assert result.evaluation.accuracy > 0.5
    full.clear()
    compare(MLPClassifierTorch((16,), max_iter=30, random_state=0, device="cpu"),
            {"alpha": [1e-4, 1e-1]}, X, y, cv=3, output_dir=tmp_path, verbose=False)
    assert full == []  # the refitted best is reused


def test_cnn_report_has_filters_and_a_gallery(tmp_path, digits_600):
    # CNN runs add the learned filters and correct/wrong predictions.
    X, y = digits_600
    result = compare(CNNClassifierTorch(max_iter=2, random_state=0, device="cpu"),
                     {"conv_layers": [((4, 3),)]}, X, y, output_dir=tmp_path,
                     n_jobs=2, verbose=False)
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"filters.png", "predictions.png"} <= figures
    assert result.best_params_ == {"conv_layers": ((4, 3),)}


def test_files_take_the_umask_permissions(tmp_path, digits_600):
    # results.csv, run.json, records and reports are 0644 under umask 022.
    X, y = digits_600
    old = os.umask(0o022)
    try:
        compare(MLPClassifierTorch((8,), max_iter=1, random_state=0),
                {"alpha": [0.1]}, X, y, output_dir=tmp_path, verbose=False)
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"]
    assert len(files) > 8
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o644"}


def test_a_second_run_on_a_folder_waits_and_reuses(tmp_path):
    # Two concurrent runs on one folder: the second waits for the first and
    # fits nothing, instead of both fitting every candidate.
    # Every candidate trains its 300 epochs (no early stop), so the first run
    # still works when the second has started.
    args = ["compare", "--max-iter", "300", "--param", "learning_rate_init=0.01,"
            "0.001", "--param", "n_iter_no_change=1000", "--output", str(tmp_path),
            "--quiet"]
    script = f"import sys; from sknets.cli import main; sys.exit(main({args!r}))"
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, timeout=300)
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "resumed" not in first_out
    assert "resumed: 2 candidate(s) from an earlier run, 0 fitted now" in second.stdout
    assert "another run is working in" in second.stderr


def test_report_error_never_loses_the_results(tmp_path, digits_600, monkeypatch):
    # A failing report is a warning: the results are saved, and `sknets
    # report` renders it later.
    X, y = digits_600

    def broken(run_dir):
        raise RuntimeError("no space for figures")

    monkeypatch.setattr(report_module, "write_report", broken)
    with pytest.warns(UserWarning, match="results are saved .* no space for figures"):
        result = compare(MLPClassifierTorch((8,), max_iter=1, random_state=0),
                         {"alpha": [0.1]}, X, y, output_dir=tmp_path, verbose=False)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 1
    assert result.evaluation is not None and not (tmp_path / "report.html").exists()
    monkeypatch.undo()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()


def test_idx_dataset_checks_images_and_labels(tmp_path, capsys):
    # A labels file where the images belong was read as a one-feature X.
    def idx(array):
        head = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
        return head + array.astype(np.uint8).tobytes()

    labels = np.arange(20) % 2
    for part in ("train", "t10k"):
        (tmp_path / f"{part}-images-idx3-ubyte").write_bytes(idx(labels))
        (tmp_path / f"{part}-labels-idx1-ubyte").write_bytes(idx(labels))
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--dataset", f"idx:{tmp_path}", "--output",
              str(tmp_path / "run"), "--quiet"])
    assert exit_info.value.code == 2
    assert "train-images-idx3-ubyte must hold images (n, height, width)" in \
        capsys.readouterr().err


def test_folder_dataset_prints_and_reports_what_was_read(tmp_path, capsys):
    # `--dataset folder:PATH` prints the reader's summary and puts it in the
    # report.
    from PIL import Image

    rng = np.random.RandomState(0)
    for label in ("0", "1"):
        for i in range(12):
            pixels = rng.randint(0, 80, (8, 8)) + (150 if label == "1" else 0)
            (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(
                tmp_path / "data" / label / f"{i}.png")
    assert main(["compare", "--dataset", f"folder:{tmp_path / 'data'}", "--max-iter",
                 "2", "--param", "alpha=0.1", "--output", str(tmp_path / "run"),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "24 images in 2 classes, resized to 28x28" in printed
    assert "modes: L: 24" in printed
    report = (tmp_path / "run" / "report.md").read_text()
    assert "The data as read" in report and "per class: 0: 12, 1: 12" in report


@pytest.mark.parametrize("damage", [
    b"", b"{not json", b"[]", b'{"name": "other"}',
    b'{"name": "NAME", "status": "done", "scores": {"f1_macro": ["x"]}}',
    b"\xff\xfe\x00",
])
def test_a_damaged_record_is_trained_again(tmp_path, digits_600, damage):
    # An edited or damaged candidate record never counts as finished: the
    # candidate is trained again and the results equal an undamaged run's.
    X, y = digits_600
    estimator = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    name = candidate_name({"alpha": 1e-4})
    (tmp_path / "a" / "models" / f"{name}.json").write_bytes(
        damage.replace(b"NAME", name.encode()))
    result = compare(estimator, grid, X, y, output_dir=tmp_path / "a", verbose=False)
    assert result.fitted == [name]
    compare(estimator, grid, X, y, output_dir=tmp_path / "b", verbose=False)
    pd.testing.assert_frame_equal(_scores(tmp_path / "a"), _scores(tmp_path / "b"))


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"format": 2}'])
def test_a_damaged_run_file_is_a_clear_error(tmp_path, digits_600, capsys, damage):
    # run.json edited or cut short: compare and `sknets report` say so (exit 2
    # for the command), never a traceback.
    X, y = digits_600
    estimator = MLPClassifierTorch((8,), max_iter=1, random_state=0)
    output = tmp_path / "run"  # the test's own folder name holds 'damaged'
    compare(estimator, {"alpha": [0.1]}, X, y, output_dir=output, verbose=False)
    (output / "run.json").write_bytes(damage)
    assert main(["report", str(output)]) == 2
    error = capsys.readouterr().err
    assert re.search(r"run( holds damaged run files|\.json is (unreadable|damaged))",
                     error)
    assert "Traceback" not in error
    with pytest.raises(ValueError, match=r"run(\.json is (unreadable|damaged)| holds "
                                         "a run on other data)"):
        compare(estimator, {"alpha": [0.1]}, X, y, output_dir=output, verbose=False)


def test_sample_weights_train_and_score_every_candidate(tmp_path, digits_600):
    # The fits train on the weights (zero-weight rows left out) and the
    # validation scores are weighted; other weights are another study.
    from sklearn.metrics import accuracy_score

    from sknets.compare._study import make_study

    X, y = digits_600
    w = np.random.RandomState(0).randint(0, 3, len(y)).astype(float)
    estimator = MLPClassifierTorch((16,), max_iter=3, random_state=0, device="cpu")
    grid = {"alpha": [1e-4, 1e-1]}
    result = compare(estimator, grid, X, y, output_dir=tmp_path / "w",
                     verbose=False, sample_weight=w)
    study = make_study(X, y, None, None, cv="holdout", scoring=None,
                       refit="f1_macro", test_size=0.2, validation_size=0.2,
                       random_state=0, class_names=None, sample_weight=w)
    best = result.best_estimator_
    assert best.t_ == 3 * int((study.sample_weight > 0).sum())
    weighted = accuracy_score(study.y_val, best.predict(study.X_val),
                              sample_weight=study.sample_weight_val)
    assert result.results.loc[0, "mean_accuracy"] == pytest.approx(weighted,
                                                                   abs=1e-12)
    unweighted = accuracy_score(study.y_val, best.predict(study.X_val))
    assert weighted != pytest.approx(unweighted, abs=1e-6)
    assert best.history_[-1]["valid_accuracy"] == pytest.approx(weighted,
                                                                abs=1e-12)
    with pytest.raises(ValueError, match="holds a run on other data"):
        compare(estimator, grid, X, y, output_dir=tmp_path / "w", verbose=False,
                sample_weight=np.ones(len(y)))
    folds = compare(estimator, grid, X, y, cv=3, output_dir=tmp_path / "cv",
                    verbose=False, sample_weight=w)
    assert folds.best_estimator_.t_ == 3 * int((study.sample_weight > 0).sum()
                                               + (study.sample_weight_val > 0).sum())


# -- the default protocol: repeated K-fold, intervals and tests -----------------------


@pytest.fixture(scope="module")
def default_run(small_digits, tmp_path_factory):
    # compare's default protocol (5-fold x 2) on a planted effect (a learning
    # rate too small to learn in 4 epochs) and a parameter with none (alpha
    # 1e-5 against 2e-5).
    from sknets.compare import compare as compare_default

    X, _, y, _ = small_digits
    output = tmp_path_factory.mktemp("default")
    result = compare_default(
        MLPClassifierTorch((16,), max_iter=4, random_state=0, device="cpu"),
        {"learning_rate_init": [1e-2, 1e-5], "alpha": [1e-5, 2e-5]}, X, y,
        output_dir=output, verbose=False)
    return result, output


def test_default_protocol_gives_every_candidate_ten_scores(default_run):
    # Ten validation scores per candidate; the intervals and tied set of the
    # comparison are in results.csv.
    result, output = default_run
    run = json.loads((output / "run.json").read_text())
    assert run["protocol"]["cv"] == 5 and run["protocol"]["repeats"] == 2
    for record in (output / "models").glob("*.json"):
        assert len(json.loads(record.read_text())["scores"]["f1_macro"]) == 10
    results = pd.read_csv(output / "results.csv")
    assert results["std_f1_macro"].notna().all()
    assert (results["ci_low"] < results["mean_f1_macro"]).all()
    assert (results["mean_f1_macro"] < results["ci_high"]).all()
    tied = results.set_index("learning_rate_init")["tied_with_best"]
    assert not tied.loc[1e-5].any()
    assert result.comparison.n_splits == 10


def test_report_says_mattered_most_only_with_evidence(default_run):
    # The planted learning rate has evidence and leads; alpha says "no
    # evidence" and is never said to have mattered most.
    result, output = default_run
    effects = pd.read_csv(output / "effects.csv").set_index("param")
    assert bool(effects.loc["learning_rate_init", "evidence"])
    assert not bool(effects.loc["alpha", "evidence"])
    text = (output / "report.md").read_text().replace("\\", "")
    summary = text.split("## Summary")[1].split("## Ranking")[0]
    assert "learning_rate_init mattered most: evidence of a difference" in summary
    assert "alpha: no evidence of a difference" in summary
    assert "alpha mattered most" not in text
    assert "1 of the 3 other candidates is indistinguishable from the best" \
        in summary
    assert (output / "figures" / "effects.png").exists()


def test_test_scores_carry_their_intervals(default_run):
    # evaluation.json has Wilson's interval of accuracy and a bootstrap one of
    # macro-F1, each around its score; the report prints them.
    result, output = default_run
    record = json.loads((output / "evaluation.json").read_text())
    low, high = record["accuracy_ci"]
    assert low < result.evaluation.accuracy < high
    n = len(result.evaluation.y_true)
    assert high - low == pytest.approx(2 * 1.96 * np.sqrt(
        result.evaluation.accuracy * (1 - result.evaluation.accuracy) / n), rel=0.15)
    low, high = record["f1_macro_ci"]
    assert low < result.evaluation.f1_macro < high
    summary = (output / "report.md").read_text().split("## Ranking")[0]
    assert f"[{record['accuracy_ci'][0]:.4f}, {record['accuracy_ci'][1]:.4f}]" \
        in summary.replace("\\", "")


def test_report_says_what_each_fit_trained_on_and_when_it_had_not_converged(
        default_run):
    # 480 training samples: folds of 384 to train and 96 to validate, the
    # refit on all 480; 4 epochs are too few to converge.
    _, output = default_run
    summary = (output / "report.md").read_text().split("## Ranking")[0]
    assert ("Each fit trained on about 384 samples and was validated on about 96 "
            "(of 480 training samples); the best was then refitted on all 480"
            in summary)
    assert "Not converged: the best candidate's 10 of its 10 fits used all 4 " \
        "epochs" in summary


def test_plan_states_the_fits_and_their_time_before_training(small_digits, tmp_path,
                                                             capsys):
    # verbose: the planned fits, an estimate of their time and how to run
    # fewer are printed before the first fit.
    from sknets.compare import compare as compare_default

    X, _, y, _ = small_digits
    compare_default(MLPClassifierTorch((8,), max_iter=2, random_state=0),
                    {"alpha": [1e-4, 1e-3]}, X, y, output_dir=tmp_path)
    out = capsys.readouterr().out
    assert re.search(r"Plan: 2 candidate\(s\) x 10 splits \(5-fold x 2 repeats\) = "
                     r"20 fits, then one refit of the best; about \d+ s if trained "
                     r"one by one \(a candidate.s splits train together as one "
                     r"stack", out)
    assert "--cv 3 --repeats 1" in out and "--cv holdout" in out


def test_repeats_need_kfold(small_digits, tmp_path, capsys):
    # repeats > 1 with one holdout split is refused, in Python and the CLI.
    from sknets.compare import compare as compare_default

    X, _, y, _ = small_digits
    with pytest.raises(ValueError, match="repeats > 1 needs cv=K"):
        compare_default(MLPClassifierTorch(max_iter=1), {"alpha": [1e-4]}, X, y,
                        cv="holdout", repeats=3, output_dir=tmp_path)
    with pytest.raises(SystemExit):
        main(["compare", "--cv", "holdout", "--repeats", "2"])
    assert "--repeats needs --cv K" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--repeats", "0"])
    assert "--repeats must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ("features", "X_test has 10 values per row"),
    ("labels", r"y_test has label\(s\) \[99\]"),
    ("rows", "X_test has 50 rows but y_test has 49"),
])
def test_test_data_is_checked_before_anything_trains(tmp_path, digits_600, change,
                                                     message):
    X, y = digits_600
    X_test, y_test = X[:50], y[:50].copy()
    if change == "features":
        X_test = X_test[:, :10]
    elif change == "labels":
        y_test[0] = 99
    else:
        y_test = y_test[:49]
    with pytest.raises(ValueError, match=message):
        compare(MLPClassifierTorch((8,), max_iter=1), {"alpha": [1e-4]}, X, y,
                X_test, y_test, output_dir=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run" / "run.json").exists()
    # the corrected rerun in the same folder is not refused
    compare(MLPClassifierTorch((8,), max_iter=1), {"alpha": [1e-4]}, X, y,
            X[:50], y[:50], output_dir=tmp_path / "run", verbose=False)


@pytest.mark.parametrize("grid, message", [
    ({"hidden_layer_sizes": [(8, 0)]}, "hidden_layer_sizes"),
    ({"dropout": [(0.1, 0.2)]}, "dropout"),
    ({"class_weight": [{99: 2.0}]}, "class_weight"),
])
def test_parameters_only_a_fit_can_check_fail_before_run_json(tmp_path, digits_600,
                                                              grid, message):
    X, y = digits_600
    est = MLPClassifierTorch((8,), max_iter=1)
    with pytest.raises(ValueError, match=f"cannot train.*{message}"):
        compare(est, grid, X, y, output_dir=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run" / "run.json").exists()
    compare(est, {"alpha": [1e-4]}, X, y, output_dir=tmp_path / "run",
            verbose=False)


def test_n_jobs_zero_is_refused_before_run_json(tmp_path, digits_600):
    X, y = digits_600
    with pytest.raises(ValueError, match="n_jobs must be a nonzero int"):
        compare(MLPClassifierTorch((8,), max_iter=1), {"alpha": [1e-4]}, X, y,
                output_dir=tmp_path / "run", verbose=False, n_jobs=0)
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.parametrize("estimator, params, stacked", [
    (MLPClassifierTorch(), {"alpha": 0.1}, True),
    (CNNClassifierTorch(), {}, False),
    (MLPClassifierTorch(), {"solver": "lbfgs"}, False),
    (MLPClassifierTorch(dtype="float64"), {}, False),
])
def test_progress_says_together_only_for_fits_that_stack(estimator, params, stacked):
    from sknets.compare._dispatch import _Progress, stacks

    class Study:
        y = np.zeros(4)

    assert stacks(estimator, params, Study) is stacked
    progress = _Progress(2, 0, 5, verbose=False)
    progress.start([params, params], stacks(estimator, params, Study))
    assert ("together" in progress.bar.postfix) is stacked
    progress.close()
