"""A study in MLflow and TensorBoard: the runs, the best model, the HParams
logdir, autolog around sknets' search, and the errors of a missing package or
an unreachable store."""

import contextlib
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from sknets import MLPClassifierTorch
from sknets.cli import main
from sknets.datasets import load_digits_images
from sknets.model_selection import GridSearchCV
from sknets.persistence import load

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

# MLflow's own: its SQL store's deprecated loader, and its autolog's training
# metrics, which call scikit-learn with a renamed argument.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy"),
]


def _main(argv):
    with contextlib.redirect_stdout(io.StringIO()) as out, \
            contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _files(folder):
    # Every file of a folder and its bytes' digest: what "untouched" means.
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


_STUDY = ["compare", "--max-iter", "4", "--cv", "3", "--repeats", "1", "--param",
          "hidden_layer_sizes=(16,);(8, 8)", "--param", "alpha=0.0001,0.1",
          "--quiet"]


def _experiment(uri, name, root):
    # Made here with its artifacts under root: a SQL store's default artifact
    # root is ./mlruns of the working directory.
    return mlflow.MlflowClient(uri).create_experiment(
        name, artifact_location=(root / "artifacts").as_uri())


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    _experiment(uri, "study", root)
    output = root / "run"
    status, out, err = _main([*_STUDY, "--output", str(output), "--mlflow", uri,
                              "--mlflow-experiment", "study", "--tensorboard",
                              str(root / "tb")])
    assert status == 0, err
    return uri, output, root / "tb", out


def _runs(uri, experiment="study"):
    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id])


def test_a_study_logs_one_parent_and_one_child_per_candidate(logged):
    uri, output, _, printed = logged
    client, runs = _runs(uri)
    parents = [r for r in runs if r.data.tags.get("sknets.role") == "study"]
    children = [r for r in runs if r.data.tags.get("sknets.role") == "candidate"]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert f"mlflow: run {parent.info.run_id} in experiment study" in printed
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    # The protocol and every base parameter; the test scores with intervals.
    params = parent.data.params
    assert params["cv"] == "3" and params["base.max_iter"] == "4"
    assert len([k for k in parent.data.params if k.startswith("base.")]) == len(
        MLPClassifierTorch().get_params())
    metrics = parent.data.metrics
    assert metrics["test_accuracy_ci_low"] <= metrics["test_accuracy"] <= metrics[
        "test_accuracy_ci_high"]
    assert parent.data.tags["sknets.rerun"].startswith("sknets compare --model mlp")
    assert "alpha" in parent.data.tags["sknets.conclusions"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "results.csv", "effects.csv", "run.json",
            "figures"} <= artifacts
    # Each child: its parameters, scores with their interval, and one step
    # per epoch of its first split's training loss.
    records = {json.loads(p.read_text())["name"]: json.loads(p.read_text())
               for p in (output / "models").glob("*.json")}
    for child in children:
        record = records[child.data.tags["sknets.candidate"]]
        assert set(child.data.params) == {"hidden_layer_sizes", "alpha"}
        assert child.data.metrics["ci_low"] <= child.data.metrics["mean_f1_macro"]
        assert child.data.metrics["mean_f1_macro"] == pytest.approx(
            np.mean(record["scores"]["f1_macro"]))
        history = client.get_metric_history(child.info.run_id, "train_loss")
        assert [m.step for m in history] == [1, 2, 3, 4]
        assert child.info.status == "FINISHED"


def test_the_best_model_loads_from_mlflow_and_predicts_as_its_file(logged):
    uri, output, _, _ = logged
    _, runs = _runs(uri)
    [parent] = [r for r in runs if r.data.tags.get("sknets.role") == "study"]
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{parent.info.run_id}/best_model")
    finally:
        mlflow.set_tracking_uri(None)
    X, _ = load_digits_images(return_X_y=True)
    expected = load(output / "best_model.safetensors").predict(X)
    np.testing.assert_array_equal(np.asarray(model.predict(X)), expected)
    assert type(model.get_raw_model()).__name__ == "MLPClassifierTorch"


def test_logging_a_study_again_does_not_duplicate_its_runs(logged):
    uri, output, _, _ = logged
    from sknets.compare import log_to_mlflow

    _, before = _runs(uri)
    [parent] = [r for r in before if r.data.tags.get("sknets.role") == "study"]
    assert log_to_mlflow(output, uri, "study") == parent.info.run_id
    _, after = _runs(uri)
    assert sorted(r.info.run_id for r in after) == sorted(r.info.run_id for r in before)


def test_a_changed_study_replaces_its_runs(logged, tmp_path):
    # A folder whose results changed (a resumed run) is logged anew; the old
    # runs are deleted, so the experiment holds one parent of the study.
    import shutil

    from sknets.compare import log_to_mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _experiment(uri, "study", tmp_path)
    _, output, _, _ = logged
    folder = tmp_path / "run"
    shutil.copytree(output, folder)
    first = log_to_mlflow(folder, uri, "study")
    record_file = next((folder / "models").glob("*.json"))
    record = json.loads(record_file.read_text())
    record["fit_time"] += 1.0
    record_file.write_text(json.dumps(record))
    second = log_to_mlflow(folder, uri, "study")
    assert second != first
    _, runs = _runs(uri)
    assert [r.info.run_id for r in runs
            if r.data.tags.get("sknets.role") == "study"] == [second]
    assert len(runs) == 5


@pytest.mark.filterwarnings("ignore:`y_pred` was renamed to `y_proba`:FutureWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_autolog_logs_the_child_runs_of_sknets_grid_search(tmp_path, small_digits):
    X, _, y, _ = small_digits
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = _experiment(uri, "autolog", tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.sklearn.autolog(log_models=False, silent=True)
    try:
        with mlflow.start_run(experiment_id=experiment) as parent:
            search = GridSearchCV(MLPClassifierTorch((8,), max_iter=2, random_state=0),
                                  {"alpha": [1e-4, 1e-2, 1.0]}, cv=2).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
        mlflow.set_tracking_uri(None)
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([parent.info.experiment_id])
    children = [r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    assert sorted(float(c.data.params["alpha"]) for c in children) == [1e-4, 1e-2, 1.0]
    assert sorted(c.data.metrics["mean_test_score"] for c in children) == sorted(
        search.cv_results_["mean_test_score"])
    top = client.get_run(parent.info.run_id)
    assert top.data.params["estimator"].startswith("MLPClassifierTorch")
    assert "best_alpha" in top.data.params


def test_a_tensorboard_logdir_holds_the_hparams_and_one_session_each(logged):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    _, output, logdir, _ = logged
    top = EventAccumulator(str(logdir))
    top.Reload()
    experiment = HParamsPluginData.FromString(
        top.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    assert {h.name for h in experiment.hparam_infos} == {"hidden_layer_sizes", "alpha"}
    assert "mean_f1_macro" in [m.name.tag for m in experiment.metric_infos]
    sessions = sorted(p for p in logdir.iterdir() if p.is_dir())
    records = {p.stem: json.loads(p.read_text()) for p in (output / "models").glob(
        "*.json")}
    assert sorted(p.name for p in sessions) == sorted(records)
    for session in sessions:
        events = EventAccumulator(str(session))
        events.Reload()
        content = events.PluginTagToContent("hparams")
        start = HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]).session_start_info
        assert set(start.hparams) == {"hidden_layer_sizes", "alpha"}
        assert "_hparams_/session_end_info" in content
        [mean] = events.Scalars("mean_f1_macro")
        assert mean.value == pytest.approx(
            np.mean(records[session.name]["scores"]["f1_macro"]), rel=1e-6)
        assert [e.step for e in events.Scalars("epoch/train_loss")] == [1, 2, 3, 4]


def test_writing_a_logdir_again_replaces_its_own_files(logged):
    from sknets.compare import log_to_tensorboard

    _, output, logdir, _ = logged
    before = sorted(p.relative_to(logdir) for p in logdir.rglob("events.*"))
    log_to_tensorboard(output, logdir)
    after = sorted(p.relative_to(logdir) for p in logdir.rglob("events.*"))
    assert len(after) == len(before) == 5


def test_a_missing_mlflow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow fails
    status, _, err = _main([*_STUDY, "--output", str(tmp_path / "run"), "--mlflow"])
    assert status == 2
    assert err.strip().splitlines() == [
        "sknets: error: Logging to MLflow needs the mlflow package: pip install "
        "'sknets[tracking]'."]
    assert not (tmp_path / "run").exists()  # nothing was trained or written


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_tracking_server_fails_in_one_line_before_the_study(tmp_path):
    uri = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    status, _, err = _main([*_STUDY, "--output", str(tmp_path / "run"),
                            "--mlflow", uri])
    assert status == 2 and time.monotonic() - start < 30
    [line] = err.strip().splitlines()
    assert line.startswith(f"sknets: error: Cannot reach the MLflow tracking server "
                           f"at {uri}")
    assert not (tmp_path / "run").exists()


def test_a_failed_log_leaves_the_study_untouched(logged, tmp_path):
    # The study's folder is only read: a store that fails leaves every file
    # as it was, and the error says how to log it later.
    _, output, _, _ = logged
    before = _files(output)
    store = tmp_path / "not-a-folder"
    store.write_text("")
    status, _, err = _main(["report", str(output), "--mlflow",
                            f"sqlite:///{store / 'mlflow.db'}"])
    assert status == 2
    [line] = err.strip().splitlines()
    assert line.startswith("sknets: error: Cannot use the MLflow tracking store")
    after = _files(output)
    assert after == before


@pytest.mark.skipif(os.environ.get("CI") is None and subprocess.run(
    [sys.executable, "-m", "mlflow", "--version"], capture_output=True).returncode,
    reason="the mlflow command is not installed")
def test_a_study_logged_to_an_mlflow_server_shows_in_its_ui(logged, tmp_path):
    # The tracking server on 127.0.0.1, started and stopped here: the study
    # logs through HTTP, its runs come back from the server's REST API and
    # the UI's page is served.
    _, output, _, _ = logged
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("the MLflow server did not start") from None
                time.sleep(0.5)
        status, printed, err = _main(["report", str(output), "--mlflow", uri,
                                      "--mlflow-experiment", "served"])
        assert status == 0, err
        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name("served")
        assert len(client.search_runs([experiment.experiment_id])) == 5
        with urllib.request.urlopen(uri, timeout=10) as page:
            assert page.status == 200 and b"MLflow" in page.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
