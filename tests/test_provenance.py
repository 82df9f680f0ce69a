"""How a study was run: the command, versions and machine it records, and a
rerun from the report's command alone that gives the same results."""

import contextlib
import io
import json
import shlex

import numpy as np
import pandas as pd
import pytest

from sknets import MLPClassifierTorch
from sknets.cli import main
from sknets.compare import compare
from sknets.compare._dispatch import _WARM, run_group
from sknets.compare._provenance import cpu_model, rerun
from sknets.compare._study import make_study

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_RERUN = "rerun (another --output for a new folder): "


def _main(argv):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = main(argv)
    return status, out.getvalue()


def _scores(folder):
    # results.csv without its timings, which no rerun repeats.
    frame = pd.read_csv(folder / "results.csv")
    return frame.drop(columns=["fit_time", "cpu_time"])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("first") / "run"
    status, _ = _main(["compare", "--max-iter", "3", "--cv", "3", "--repeats", "1",
                       "--param", "hidden_layer_sizes=(16,);(8, 8)", "--param",
                       "alpha=0.0001,0.1", "--output", str(output), "--quiet"])
    assert status == 0
    return output


def test_the_printed_command_reruns_the_study_into_a_new_folder(cli_run, tmp_path):
    # `sknets report` prints the command; run into another folder, it gives
    # the same results.csv scores (timings aside).
    status, printed = _main(["report", str(cli_run)])
    assert status == 0
    [line] = [ln for ln in printed.splitlines() if ln.startswith(_RERUN)]
    words = shlex.split(line[len(_RERUN):])
    assert words[:2] == ["sknets", "compare"]
    at = words.index("--output")
    assert words[at + 1] == str(cli_run)
    words[at + 1] = str(tmp_path / "again")
    status, _ = _main([*words[1:], "--quiet"])
    assert status == 0
    first, again = _scores(cli_run), _scores(tmp_path / "again")
    assert len(first) == 4
    pd.testing.assert_frame_equal(first, again)


def test_the_report_says_how_it_was_run(cli_run):
    # The section shows the command, every base parameter, the versions, the
    # machine and the seeds, from run.json's fields.
    run = json.loads((cli_run / "run.json").read_text())
    [session] = run["sessions"]
    assert session["command"].startswith("sknets compare --model mlp --dataset "
                                          "digits --cv 3 --repeats 1")
    assert set(session["versions"]) >= {"sknets", "torch", "scikit-learn", "numpy",
                                        "python"}
    assert session["cpu"] == cpu_model() and session["cores"] >= 1
    assert session["torch_threads"] >= 1 and session["device"] == "cpu"
    assert session["date"].endswith("+00:00")
    assert run["test_size"] == 0.2
    params = MLPClassifierTorch().get_params()
    assert {entry[0] for entry in run["estimator_params"]["dict"]} == set(params)
    markdown = (cli_run / "report.md").read_text()
    how = markdown[markdown.index("## How this was run"):]
    assert f"```\n{session['command']}\n```" in how
    for text in ("random_state=0", "| learning_rate_init | 0.001 |",
                 session["versions"]["torch"], session["cpu"],
                 "| max_iter | 3 |"):
        assert text in how, text
    html = (cli_run / "report.html").read_text()
    assert '<section id="how-run">' in html and "<pre><code>sknets compare" in html


def test_a_resumed_run_lists_each_session(cli_run, tmp_path):
    # Each start or resume of a run is a session of its own.
    folder = tmp_path / "resumed"
    argv = ["compare", "--max-iter", "2", "--param", "alpha=0.0001,0.1",
            "--cv", "holdout", "--output", str(folder), "--quiet"]
    assert _main(argv)[0] == 0
    assert _main(argv)[0] == 0
    run = json.loads((folder / "run.json").read_text())
    assert len(run["sessions"]) == 2
    assert "started or resumed 2 times" in (folder / "report.md").read_text()


def test_a_python_study_records_its_call(tmp_path, small_digits):
    X, _, y, _ = small_digits
    compare(MLPClassifierTorch((8,), max_iter=2, random_state=0),
            {"alpha": [1e-4, 0.1]}, X, y, cv=3, repeats=1, output_dir=tmp_path,
            verbose=False)
    run = json.loads((tmp_path / "run.json").read_text())
    kind, call = rerun(run)
    assert kind == "call"
    assert call == ("compare(MLPClassifierTorch(hidden_layer_sizes=(8,), "
                    "max_iter=2, random_state=0), {'alpha': [0.0001, 0.1]}, X, y, "
                    "cv=3, repeats=1)")
    status, printed = _main(["report", str(tmp_path)])
    assert status == 0 and f"rerun from Python, with the same data: {call}" in printed
    assert "This study was run from Python" in (tmp_path / "report.md").read_text()


def test_cpu_time_is_recorded_and_shown(cli_run):
    # Each candidate's CPU time is saved with its record and the ranking
    # shows it, with what it measures.
    frame = pd.read_csv(cli_run / "results.csv")
    assert (frame["cpu_time"] > 0).all() and (frame["fit_time"] > 0).all()
    markdown = (cli_run / "report.md").read_text()
    assert "CPU time (s)" in markdown
    assert "CPU time is the processor time of a candidate's fits" in markdown


def test_a_run_without_cpu_times_shows_wall_time_and_says_so(cli_run, tmp_path):
    # Records written before CPU times were measured: the ranking shows
    # wall-clock fit time and says what it measures.
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(cli_run, folder)
    for path in (folder / "models").glob("*.json"):
        record = json.loads(path.read_text())
        record.pop("cpu_time", None)
        path.write_text(json.dumps(record))
    assert _main(["report", str(folder)])[0] == 0
    markdown = (folder / "report.md").read_text()
    assert "fit time (s)" in markdown and "CPU time (s)" not in markdown
    assert "Fit time is wall-clock time" in markdown


def test_a_process_warms_up_once_before_timing_a_fit(small_digits):
    # The first fit of a (worker) process pays one-time costs; run_group pays
    # them in an untimed warm-up fit, once per estimator type.
    X, _, y, _ = small_digits
    _WARM.clear()
    study = make_study(X, y, None, None, cv=3, scoring=None, refit="f1_macro",
                       test_size=0.2, validation_size=0.2, random_state=0,
                       class_names=None)
    estimator = MLPClassifierTorch((8,), max_iter=2, random_state=0)
    [(record, models)] = run_group(estimator, [{"alpha": 1e-4}], study)
    assert MLPClassifierTorch in _WARM
    assert record.cpu_time > 0 and np.isfinite(record.cpu_time)
    assert len(models) == 3
