"""sknets compare: the CLI, the runner, resuming, the report and the plots."""

import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sknets import CNNClassifierTorch, MLPClassifierTorch, plotting
from sknets import compare as compare_module
from sknets.cli import main
from sknets.compare import candidate_name, compare

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _html_tags(path):
    parser = _Tags()
    parser.feed(path.read_text())
    parser.close()
    return parser.tags


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
    assert {"learning_rate_init", "hidden_layer_sizes", "width", "depth",
            "mean_f1_macro", "std_f1_macro", "mean_roc_auc_9", "fit_time"} <= set(
        results.columns)
    assert results["mean_f1_macro"].is_monotonic_decreasing
    tags = _html_tags(output / "report.html")
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert sum(tag == "table" for tag, _ in tags) >= 4
    # score vs lr and depth (width is 16 in both); 4 learning curves;
    # confusion matrix; ROC curves.
    assert len(images) == 2 + 4 + 2
    assert all(img["src"].startswith("data:image/png;base64,") for img in images)
    markdown = (output / "report.md").read_text()
    assert "| macro F1 |" in markdown and "## Ranked candidates" in markdown
    figures = sorted(p.name for p in (output / "figures").iterdir())
    assert "confusion_matrix.png" in figures and "roc_curves.png" in figures
    assert len(figures) == 8
    models = sorted(p.name for p in (output / "models").glob("*.safetensors"))
    assert len(models) == 4 and (output / "best_model.safetensors").exists()


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


# -- the runner ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_600(small_digits):
    X_train, _, y_train, _ = small_digits
    return X_train, y_train


def test_resume_fits_only_what_is_missing(tmp_path, monkeypatch, digits_600):
    # Interrupted after two of four candidates, the rerun fits the other two.
    X, y = digits_600
    grid = {"learning_rate_init": [1e-2, 1e-3], "alpha": [1e-4, 1e-2]}
    estimator = MLPClassifierTorch((16,), max_iter=2, random_state=0, device="cpu")
    run = compare_module._run_candidate
    calls = []

    def interrupt_third(*args):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run(*args)

    monkeypatch.setattr(compare_module, "_run_candidate", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False)
    monkeypatch.setattr(compare_module, "_run_candidate", run)
    result = compare(estimator, grid, X, y, output_dir=tmp_path, verbose=False)
    assert sorted(result.reused) == sorted(candidate_name(p) for p in calls[:2])
    assert len(result.fitted) == 2 and len(result.results) == 4
    # A third run fits nothing; another estimator in the folder is refused.
    assert compare(estimator, grid, X, y, output_dir=tmp_path,
                   verbose=False).fitted == []
    with pytest.raises(ValueError, match="holds a run on other data"):
        compare(MLPClassifierTorch((8,), max_iter=2), grid, X, y,
                output_dir=tmp_path, verbose=False)


def test_cross_validation_protocol(tmp_path, digits_600):
    # cv=3: scores have a spread, the best is refitted, save_all refits all.
    X, y = digits_600
    result = compare(MLPClassifierTorch((16,), max_iter=30, random_state=0,
                                        device="cpu"),
                     {"alpha": [1e-4, 1e-1]}, X, y, cv=3, save_all=True,
                     output_dir=tmp_path, verbose=False)
    assert (result.results["std_f1_macro"] > 0).all()
    assert result.best_estimator_.n_iter_ == 30
    assert len(list((tmp_path / "models").glob("*.refit.safetensors"))) == 2
    assert result.evaluation.accuracy > 0.5


def test_cnn_report_has_filters_and_a_gallery(tmp_path, digits_600):
    # CNN runs add the learned filters and correct/wrong predictions.
    X, y = digits_600
    result = compare(CNNClassifierTorch(max_iter=2, random_state=0, device="cpu"),
                     {"conv_layers": [((4, 3),)]}, X, y, output_dir=tmp_path,
                     n_jobs=2, verbose=False)
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"filters.png", "predictions.png"} <= figures
    assert result.best_params_ == {"conv_layers": ((4, 3),)}


def test_candidate_names_are_file_names():
    # Parameters become short, safe, distinct file names.
    long = {"conv_layers": tuple((32, 3) for _ in range(30))}
    name = candidate_name(long)
    assert len(name) <= 120 and "/" not in name
    assert candidate_name({"loss": "mse"}) != candidate_name({"loss": "mae"})


# -- plots ---------------------------------------------------------------------------


def test_plots_return_figures_with_their_axes(tmp_path, digits_600):
    # Each plot is a Figure with the axes it promises.
    X, y = digits_600
    cnn = CNNClassifierTorch(conv_layers=((6, 3),), max_iter=2, random_state=0,
                             device="cpu").fit(X, y, validation_data=(X[:100],
                                                                     y[:100]))
    proba, pred = cnn.predict_proba(X), cnn.predict(X)
    figures = {
        "curves": (plotting.plot_learning_curves(cnn), 2),
        "confusion": (plotting.plot_confusion_matrix(y, pred, normalize=True), 2),
        "roc": (plotting.plot_roc_curves(y, proba, cnn.classes_), 1),
        "filters": (plotting.plot_filters(cnn), 6),
        "gallery": (plotting.plot_predictions_gallery(X, y, pred, n_correct=5,
                                                      n_wrong=3), 5 + min(
            3, int((y != pred).sum()))),
    }
    frame = pd.DataFrame({"learning_rate_init": [0.1, 0.01, 0.001],
                          "mean_f1_macro": [0.5, 0.9, 0.8],
                          "std_f1_macro": [0.1, 0.0, 0.05]})
    figures["search"] = (plotting.plot_search_results(frame, "learning_rate_init"), 1)
    for name, (fig, n_axes) in figures.items():
        assert isinstance(fig, Figure), name
        assert len(fig.axes) == n_axes, name
        fig.savefig(tmp_path / f"{name}.png")
    assert len(plotting.plot_learning_curves(cnn).axes[0].lines) == 2  # train+valid
    with pytest.raises(ValueError, match="No column 'width'"):
        plotting.plot_search_results(frame, "width")
    assert np.isfinite(proba).all()
