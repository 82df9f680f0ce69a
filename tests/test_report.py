"""The study report: its structure, its summary, escaping, figures and plots."""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from _holdout import compare
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay
from sklearn.model_selection import GridSearchCV

from sknets import CNNClassifierTorch, MLPClassifierTorch, plotting
from sknets.cli import main
from sknets.compare._render import escape_markdown
from sknets.metrics import make_scoring

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Class names a user might have: markup, a table's bar, mathtext, Markdown.
HOSTILE = ["<script>alert(1)</script>", "a|b", "$x^$", "*bold*", "_u_", "[l](x)",
           "6", "7", "8", "9"]


class _Page(HTMLParser):
    """The report's sections, tables (with their header counts) and images."""

    def __init__(self):
        super().__init__()
        self.sections, self.tables, self.images = [], [], []
        self.texts, self.scripts = [], 0
        self._section = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs["id"]
            self.sections.append(attrs["id"])
        elif tag == "table":
            self.tables.append({"section": self._section, "columns": []})
        elif tag == "th" and self.tables:
            self.tables[-1]["columns"].append("")
        elif tag == "img":
            self.images.append(attrs.get("alt"))
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.texts.append(data)
        if self.tables and self.lasttag == "th":
            self.tables[-1]["columns"][-1] += data


def _page(html_text):
    page = _Page()
    page.feed(html_text)
    page.close()
    return page


@pytest.fixture(scope="module")
def hostile_run(small_digits, tmp_path_factory):
    # Four MLPs on digits whose classes have hostile names, one with a
    # class_weight keyed by one of them.
    X, _, y, _ = small_digits
    labels = np.array(HOSTILE, dtype=object)[y]
    output = tmp_path_factory.mktemp("hostile")
    result = compare(MLPClassifierTorch((16,), max_iter=4, random_state=0),
                     {"learning_rate_init": [1e-2, 1e-3],
                      "class_weight": [None, {"a|b": 2.0}]}, X, labels,
                     output_dir=output, verbose=False)
    return result, output


def test_report_sections_come_in_order_with_a_compact_ranking(hostile_run):
    # Summary first, then ranking, parameters, curves and the best model; the
    # ranking has at most 12 columns and, in holdout, no std.
    _, output = hostile_run
    page = _page((output / "report.html").read_text())
    assert page.sections[:5] == ["summary", "ranking", "parameters", "curves",
                                 "best-model"]
    ranking = next(t for t in page.tables if t["section"] == "ranking")
    assert len(ranking["columns"]) <= 12
    assert ranking["columns"] == ["#", "learning_rate_init", "class_weight",
                                  "f1_macro", "f1_macro 95% CI", "tied with best",
                                  "accuracy", "epochs", "CPU time (s)"]
    assert not any("std" in c or "±" in c for t in page.tables for c in t["columns"])
    assert "overlaid learning curves of every candidate" in page.images
    assert any(alt.startswith("parallel coordinates") for alt in page.images)


def test_one_split_report_claims_no_evidence(hostile_run):
    # Holdout: one score per candidate cannot tell candidates apart, so no
    # parameter "mattered most" however far apart its scores are, the
    # spread is blank in results.csv, and the binomial floor is shown.
    result, output = hostile_run
    text = (output / "report.md").read_text().replace("\\", "")
    summary = text.split("## Summary")[1].split("## Ranking")[0]
    assert "mattered most" not in text
    assert "claims no evidence of any difference" in summary
    assert "learning_rate_init: no evidence of a difference (one split" in summary
    assert "binomial standard error" in summary
    assert f"{result.evaluation.accuracy:.4f}" in summary
    results = pd.read_csv(output / "results.csv")
    assert results["std_f1_macro"].isna().all()
    assert results["tied_with_best"].all()
    assert "trained on 384 samples and was validated on 96" in summary


def test_user_strings_are_shown_as_written(hostile_run):
    # Class names and parameter values are escaped in HTML and Markdown; a
    # `$x^$` class name does not reach matplotlib's mathtext.
    _, output = hostile_run
    html_text = (output / "report.html").read_text()
    page = _page(html_text)
    assert page.scripts == 0
    assert "<script>alert(1)</script>" in "".join(page.texts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    markdown = (output / "report.md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" \
        in markdown
    assert r"a\|b" in markdown and "| a|b |" not in markdown
    assert r"\*bold\*" in markdown and r"\[l\](x)" in markdown
    assert (output / "figures" / "confusion_matrix.png").stat().st_size > 1000


def test_escape_markdown_keeps_words_readable():
    assert escape_markdown("learning_rate_init") == "learning_rate_init"
    assert escape_markdown("_u_ | <b>") == r"\_u\_ \| &lt;b&gt;"


def test_numbers_are_formatted_by_kind(hostile_run):
    # Counts print as integers, scores to 4 digits, never 360.0000.
    result, output = hostile_run
    markdown = (output / "report.md").read_text()
    n_test = len(result.evaluation.y_true)
    assert f"| samples | {n_test} |" in markdown
    assert f"{n_test}.0000" not in markdown
    ranking = markdown.split("## Ranking")[1].split("##")[0]
    interval = r"\\\[0\.\d{4}, 0\.\d{4}\\\]"  # escaped brackets in Markdown
    assert re.search(rf"\| 1 \| 0\.01 \| .* \| 0\.\d{{4}} \| {interval} \| "
                     r"= best \| 0\.\d{4} \| 4 \|", ranking)


def test_report_command_renders_without_training(hostile_run, monkeypatch, tmp_path):
    # `sknets report DIR` writes the same report again from the folder alone.
    _, output = hostile_run
    copy = tmp_path / "run"
    shutil.copytree(output, copy)
    before = (copy / "report.md").read_text()
    for name in ("report.md", "report.html"):
        (copy / name).unlink()
    shutil.rmtree(copy / "figures")

    def no_training(*args, **kwargs):
        raise AssertionError("the report trained a model")

    monkeypatch.setattr(MLPClassifierTorch, "fit", no_training)
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.md").read_text() == before
    assert len(list((copy / "figures").glob("*.png"))) == 6


def test_report_of_an_interrupted_run_covers_what_is_done(hostile_run, tmp_path):
    # A run stopped after some candidates: the report says so and ranks them.
    _, output = hostile_run
    copy = tmp_path / "run"
    shutil.copytree(output, copy)
    run = (copy / "run.json").read_text().replace('"finished"', '"running"')
    (copy / "run.json").write_text(run)
    for name in ("evaluation.json", "best.json", "best_model.safetensors"):
        (copy / name).unlink()
    record = sorted((copy / "models").glob("*.json"))[0]
    record.unlink()
    assert main(["report", str(copy)]) == 0
    markdown = (copy / "report.md").read_text()
    assert "This run is unfinished: 3 of 4 candidates are done" in markdown
    assert "Not available yet" in markdown
    assert len(pd.read_csv(copy / "results.csv")) == 4  # the run's own file


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no comparison run" in capsys.readouterr().err


def test_kfold_report_shows_the_fold_spread(small_digits, tmp_path):
    # cv=2: mean ± std in the ranking, and a band around each curve.
    X, _, y, _ = small_digits
    compare(MLPClassifierTorch((8,), max_iter=3, random_state=0),
            {"alpha": [1e-4, 1e-1]}, X, y, cv=2, output_dir=tmp_path, verbose=False)
    markdown = (tmp_path / "report.md").read_text()
    ranking = markdown.split("## Ranking")[1].split("##")[0]
    assert "mean ± std over 4 splits" in ranking  # 2 folds x 2 repeats
    assert len(re.findall(r"0\.\d{4} ± 0\.\d{4}", ranking)) == 4
    assert "the band their range" in markdown


# -- plots ---------------------------------------------------------------------------


def test_plots_return_displays_with_their_figures(tmp_path, small_digits):
    # scikit-learn's displays where they exist, FigureDisplay elsewhere; each
    # has the axes it promises.
    X, _, y, _ = small_digits
    cnn = CNNClassifierTorch(conv_layers=((6, 3),), max_iter=2, random_state=0,
                             device="cpu").fit(X, y, validation_data=(X[:100],
                                                                     y[:100]))
    proba, pred = cnn.predict_proba(X), cnn.predict(X)
    confusion = plotting.plot_confusion_matrix(y, pred, normalize=True)
    roc = plotting.plot_roc_curves(y, proba, cnn.classes_)
    assert isinstance(confusion, ConfusionMatrixDisplay)
    assert isinstance(roc, RocCurveDisplay) and len(roc.fpr) == 10
    np.testing.assert_allclose(confusion.confusion_matrix.sum(axis=1), 1.0)
    n_wrong = min(3, int((y != pred).sum()))
    displays = {
        "curves": (plotting.plot_learning_curves(cnn), 2),
        "confusion": (confusion, 2),
        "roc": (roc, 1),
        "filters": (plotting.plot_filters(cnn), 6),
        "gallery": (plotting.plot_predictions_gallery(X, y, pred, n_correct=5,
                                                      n_wrong=3), 5 + n_wrong),
        "overlaid": (plotting.plot_candidate_curves(
            {"a": cnn.history_, "b": [cnn.history_, cnn.history_[:1]]}), 2),
    }
    for name, (display, n_axes) in displays.items():
        assert isinstance(display.figure_, Figure), name
        assert len(display.figure_.axes) == n_axes, name
        display.figure_.savefig(tmp_path / f"{name}.png")
    # Training and validation of each of the two candidates, in each axes.
    assert len(displays["overlaid"][0].ax_[0].lines) == 4
    assert len(displays["curves"][0].ax_[0].lines) == 2


def test_search_results_plot_the_refit_metric_with_fitting_axes(small_digits):
    # metric=None is the search's refit metric (not the first one); integer
    # parameters get integer ticks, rates a log axis.
    X, _, y, _ = small_digits
    search = GridSearchCV(MLPClassifierTorch(max_iter=2, random_state=0),
                          {"hidden_layer_sizes": [(8,), (8, 8)],
                           "learning_rate_init": [1e-3, 1e-1]}, cv=2,
                          scoring=make_scoring(), refit="f1_macro").fit(X, y)
    display = plotting.plot_search_results(search, "depth")
    assert display.ax_.get_ylabel() == "f1_macro"
    assert display.ax_.get_xticks().tolist() == [1.0, 2.0]
    rates = plotting.plot_search_results(search, "learning_rate_init")
    assert rates.ax_.get_xscale() == "log"
    frame = pd.DataFrame({"depth": [1, 2], "mean_accuracy": [0.5, 0.6],
                          "mean_f1_macro": [0.9, 0.8]})
    frame.attrs["refit"] = "f1_macro"
    assert plotting.plot_search_results(frame, "depth").ax_.get_ylabel() == "f1_macro"
    with pytest.raises(ValueError, match="No column 'width'"):
        plotting.plot_search_results(frame, "width")


def test_parallel_coordinates_draw_one_line_per_candidate():
    frame = pd.DataFrame({"alpha": [1e-4, 1e-2, 1e-4], "loss": ["a", "b", "b"],
                          "mean_f1_macro": [0.9, float("nan"), 0.7]})
    display = plotting.plot_parallel_coordinates(frame, ["alpha", "loss"])
    lines = display.ax_.lines
    assert len(lines) == 3
    assert [line.get_linestyle() for line in lines].count("--") == 1  # diverged
    assert display.ax_.get_xticklabels()[-1].get_text() == "f1_macro"


def test_parameters_left_at_their_default_plot_as_a_category():
    # Grids of several entries leave a parameter unset for some candidates:
    # NaN (or None) in the results table. Both plots draw it as 'default'
    # instead of failing (the report of such a run was not written).
    frame = pd.DataFrame({"pool_stride": [float("nan"), 3.0, float("nan")],
                          "width": [8, None, 16],
                          "mean_f1_macro": [0.9, 0.8, 0.7]})
    display = plotting.plot_parallel_coordinates(frame, ["pool_stride", "width"])
    assert len(display.ax_.lines) == 3
    display = plotting.plot_search_results(frame, "pool_stride")
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert "default" in labels and "3" in labels


# -- in a real browser -----------------------------------------------------------------


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None and not os.environ.get(
    "SKNETS_REQUIRE_BROWSER"), reason="headless Chromium is not installed")
def test_report_in_headless_chromium(hostile_run, tmp_path):
    # Rendered by Chromium: sections in order, a ranking that fits a laptop
    # screen without sideways scrolling, the figures present, no script run,
    # and a screenshot that shows the report.
    from PIL import Image

    browser = _chromium()
    assert browser, "SKNETS_REQUIRE_BROWSER is set but Chromium is missing"
    _, output = hostile_run
    page = tmp_path / "report.html"
    probe = ("<script>document.body.setAttribute('data-scroll-width', "
             "document.documentElement.scrollWidth)</script></body>")
    page.write_text((output / "report.html").read_text().replace("</body>", probe))
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
             "--window-size=1280,800"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert int(re.search(r'data-scroll-width="(\d+)"', dom).group(1)) <= 1280
    rendered = _page(dom)
    assert rendered.sections[:5] == ["summary", "ranking", "parameters", "curves",
                                     "best-model"]
    assert rendered.scripts == 1  # the probe only: the class name stayed text
    assert "<script>alert(1)</script>" in "".join(rendered.texts)
    ranking = next(t for t in rendered.tables if t["section"] == "ranking")
    assert len(ranking["columns"]) <= 12
    assert not any(c.startswith("std_") for c in ranking["columns"])
    assert "overlaid learning curves of every candidate" in rendered.images
    assert any(alt.startswith("parallel coordinates") for alt in rendered.images)
    shot = tmp_path / "top.png"
    subprocess.run([*flags, f"--screenshot={shot}", (output / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.shape == (800, 1280)
    assert (image[:120] < 128).mean() > 0.005  # the title's dark text is drawn
