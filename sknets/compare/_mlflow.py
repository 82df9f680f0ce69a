"""A study in MLflow: one parent run, one child run per candidate, the best model.

``log_to_mlflow`` reads a run folder (nothing else: no training) and logs
it to an MLflow tracking store; ``check_tracking`` says, before a study
starts, whether MLflow is installed and the store reachable. A study is
logged once: logging it again (the same folder, unchanged) finds its runs
and logs nothing; a folder that changed since (a resumed run) replaces its
runs.
"""

import hashlib
import math
import socket
import urllib.parse

import numpy as np

from .._typing import StrPath
from ..persistence import _decode
from ..plotting import _value_text
from ._folder import RunFolder
from ._record import DONE
from ._report import _load_evaluation, _params_text, read_results

__all__ = ["TrackingError", "check_tracking", "log_to_mlflow"]

_TAG = "sknets.study"  # the study's identity: its fingerprint and folder
_CONTENT = "sknets.content"  # a digest of the folder's files when logged
_ROLE = "sknets.role"
_FILES = ("report.html", "report.md", "results.csv", "effects.csv", "run.json",
          "evaluation.json", "best.json")


class TrackingError(RuntimeError):
    """MLflow is missing or its tracking store cannot be used; says what to do."""


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise TrackingError("Logging to MLflow needs the mlflow package: pip "
                            "install 'sknets[tracking]'.") from None
    return mlflow


def _reachable(uri, timeout):
    # An HTTP(S) tracking server answers a TCP connection within timeout s;
    # MLflow's own client would retry for minutes before failing.
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise TrackingError(
            f"Cannot reach the MLflow tracking server at {uri} ({exc}). Start one "
            "(mlflow server --host 127.0.0.1 --port 5000) or give a local store, "
            "e.g. sqlite:///mlflow.db.") from None


def check_tracking(tracking_uri=None, timeout=5.0):
    """Check that MLflow is installed and its tracking store answers.

    Parameters
    ----------
    tracking_uri : str, default=None
        The store (``sqlite:///mlflow.db``, a folder, ``http://host:port``);
        None means MLflow's own default (``MLFLOW_TRACKING_URI``).
    timeout : float, default=5.0
        Seconds to wait for an HTTP(S) server.

    Returns
    -------
    client : mlflow.MlflowClient

    Raises
    ------
    TrackingError
        One line saying what to install or fix.
    """
    mlflow = _mlflow()
    uri = tracking_uri or mlflow.get_tracking_uri()
    _reachable(uri, timeout)
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES

    retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
    MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(0)
    try:
        client = mlflow.MlflowClient(uri)
        client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any store failure, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TrackingError(f"Cannot use the MLflow tracking store {uri} "
                            f"({type(exc).__name__}: {first[:300]}). Give a "
                            "reachable server or a local store, e.g. "
                            "sqlite:///mlflow.db.") from None
    finally:
        MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(retries)
    return client


def _content(folder):
    # What the folder's results are: a rerun that changed them logs anew.
    digest = hashlib.sha256()
    paths = [folder.path / name for name in ("run.json", "results.csv",
                                             "evaluation.json", "best.json")]
    paths += sorted((folder.path / "models").glob("*.json"))
    for path in paths:
        if path.exists():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _params(mapping, prefix=""):
    from mlflow.entities import Param

    return [Param(f"{prefix}{key}", _value_text(value)[:6000])
            for key, value in mapping.items()]


def _metrics(mapping, step=0, timestamp=0):
    from mlflow.entities import Metric

    out = []
    for key, value in mapping.items():
        if value is None or isinstance(value, str):
            continue
        number = _number(value)
        if number is not None:
            out.append(Metric(key, number, timestamp, step))
    return out


def _log_batch(client, run_id, params=(), metrics=(), tags=()):
    # MLflow takes at most 1000 metrics, 100 params and 100 tags per batch.
    params, metrics = list(params), list(metrics)
    tags = list(tags)
    while params or metrics or tags:
        client.log_batch(run_id, metrics=metrics[:1000], params=params[:100],
                         tags=tags[:100])
        params, metrics, tags = params[100:], metrics[1000:], tags[100:]


def _existing(client, experiment_id, identity):
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`{_TAG}` = '{identity}'")


def log_to_mlflow(run_dir: StrPath, tracking_uri: str | None = None,
                  experiment: str | None = None) -> str:
    """Log a comparison run folder to MLflow.

    A parent run holds the study: the protocol and every base parameter
    (params), the test scores of the best model with their 95% intervals
    (metrics), the conclusions (tags ``sknets.conclusions``,
    ``sknets.tied_with_best``), the command that reruns it, and the report,
    CSVs and figures (artifacts). Each candidate is a child run with its
    parameters, its mean and std of every metric over the splits with the
    corrected interval and whether it is tied with the best, its fit and
    CPU times, and the per-epoch history of its first split (training loss,
    validation scores) as step metrics. The best model is the parent's
    MLflow model ``best_model``: ``mlflow.pyfunc.load_model`` loads it from
    sknets' own file (best_model.safetensors, logged with it; nothing is
    unpickled) and predicts labels.

    Logging the same folder again logs nothing when its results are
    unchanged, and replaces its runs when they changed (a resumed run).

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by ``compare`` (finished, or interrupted: its
        finished candidates are logged, without a best model).
    tracking_uri : str, default=None
        The tracking store; None means MLflow's default
        (``MLFLOW_TRACKING_URI``).
    experiment : str, default=None
        The experiment's name; None means 'sknets'. Made when missing.

    Returns
    -------
    run_id : str
        The parent run's id.

    Raises
    ------
    TrackingError
        When mlflow is not installed or the store cannot be used; the run
        folder is only read.
    ValueError
        When the folder holds no run, or no finished candidate.
    """
    folder = RunFolder(run_dir)
    run, records, comparison, frame = read_results(folder)
    client = check_tracking(tracking_uri)
    mlflow = _mlflow()
    uri = tracking_uri or mlflow.get_tracking_uri()

    name = experiment or "sknets"
    found = client.get_experiment_by_name(name)
    experiment_id = (found.experiment_id if found is not None
                     else client.create_experiment(name))
    identity = hashlib.sha256(
        f"{run['fingerprint']}:{folder.path.resolve()}".encode()).hexdigest()[:32]
    content = _content(folder)
    existing = _existing(client, experiment_id, identity)
    for old in existing:
        if (old.data.tags.get(_ROLE) == "study"
                and old.data.tags.get(_CONTENT) == content):
            return old.info.run_id
    for old in existing:  # the runs of the study before it changed
        client.delete_run(old.info.run_id)

    common = {_TAG: identity}
    protocol = run["protocol"]
    from ._provenance import rerun

    how = rerun(run)
    tags = {**common, _ROLE: "study", _CONTENT: content,
            "sknets.run_dir": str(folder.path.resolve()),
            "sknets.state": str(run.get("state")),
            "sknets.data": f"{run['n_train']} training and {run['n_test']} test "
                           "samples" + ("; " + "; ".join(run["data_summary"])
                                        if run.get("data_summary") else "")}
    if how is not None:
        tags["sknets.rerun"] = how[1]
    if comparison is not None:
        summary = comparison.summary(describe=_params_text)
        tags["sknets.conclusions"] = " ".join(
            [summary] if isinstance(summary, str) else summary)[:5000]
        params_of = {entry["name"]: _decode(entry["params"], "params")
                     for entry in run["candidates"]}
        tied = [_params_text(params_of[name]) for name, is_tied in zip(
            frame["candidate"], frame["tied_with_best"], strict=True) if is_tied]
        tags["sknets.tied_with_best"] = "; ".join(tied)[:5000]
    parent = client.create_run(experiment_id, run_name=f"compare {folder.path.name}",
                               tags={"mlflow.note.content": (
                                   f"sknets compare of {len(run['candidates'])} "
                                   f"{run['estimator']} candidates in "
                                   f"{folder.path.resolve()}"), **tags})
    parent_id = parent.info.run_id
    try:
        base = _decode(run.get("estimator_params") or {"dict": []}, "estimator")
        study_params = {"estimator": run["estimator"], "grid": run["grid"],
                        "n_candidates": len(run["candidates"]),
                        "n_train": run["n_train"], "n_test": run["n_test"],
                        "test_size": run.get("test_size"),
                        **{k: v for k, v in protocol.items() if k != "metrics"}}
        evaluation, _, intervals = _load_evaluation(folder)
        test = {}
        if evaluation is not None:
            test = {"test_accuracy": evaluation.accuracy,
                    "test_f1_macro": evaluation.f1_macro,
                    "test_roc_auc_ovr": evaluation.roc_auc_ovr}
            for key, (low, high) in (intervals or {}).items():
                metric = key.removesuffix("_ci")
                test[f"test_{metric}_ci_low"] = low
                test[f"test_{metric}_ci_high"] = high
        test["n_finished"] = len(records)
        test["n_tied_with_best"] = int(frame["tied_with_best"].sum())
        _log_batch(client, parent_id,
                   params=_params(study_params) + _params(base, "base."),
                   metrics=_metrics(test))
        for file in _FILES:
            if (folder.path / file).exists():
                client.log_artifact(parent_id, str(folder.path / file))
        if (folder.path / "figures").is_dir():
            client.log_artifacts(parent_id, str(folder.path / "figures"), "figures")
        for position, row in frame.iterrows():
            _log_candidate(client, experiment_id, parent_id, common, row,
                           records[row["candidate"]], int(position) + 1,
                           protocol["metrics"])
        best = (folder.read_json("best.json") or {}).get("name")
        if best is not None and folder.best_model_path.exists():
            _log_best_model(mlflow, uri, parent_id, folder)
        client.set_terminated(parent_id, "FINISHED")
    except BaseException:
        client.set_terminated(parent_id, "FAILED")
        raise
    return parent_id


def _log_candidate(client, experiment_id, parent_id, common, row, record, position,
                   metric_names):
    from mlflow.entities import Metric, RunTag

    params = _decode(record.params, "params")
    child = client.create_run(experiment_id, run_name=_params_text(params),
                              tags={**common, _ROLE: "candidate",
                                    "mlflow.parentRunId": parent_id,
                                    "sknets.candidate": record.name,
                                    "sknets.status": record.status})
    values = {"rank": position, "fit_time": row["fit_time"],
              "cpu_time": row.get("cpu_time"), "epochs": row["epochs"],
              "ci_low": row["ci_low"], "ci_high": row["ci_high"],
              "tied_with_best": float(bool(row["tied_with_best"]))}
    for metric in metric_names:
        values[f"mean_{metric}"] = row[f"mean_{metric}"]
        values[f"std_{metric}"] = row[f"std_{metric}"]
    metrics = _metrics(values)
    metrics += [Metric(key, value, 0, step) for step, key, value in
                record.curve_points()]
    _log_batch(client, child.info.run_id, params=_params(params),
               metrics=metrics, tags=[RunTag("sknets.position", str(position))])
    client.set_terminated(child.info.run_id,
                          "FINISHED" if record.status == DONE else "FAILED")


class _Predictor:
    """The pyfunc model of a best model: ``predict`` gives its labels.

    ``mlflow.pyfunc.load_model(uri).get_raw_model()`` is the fitted sknets
    estimator, for ``predict_proba`` and the rest.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def get_raw_model(self):
        """The fitted sknets estimator."""
        return self.estimator

    def predict(self, model_input, params=None):
        """The predicted labels of ``model_input`` (rows of features, or images)."""
        return self.estimator.predict(np.asarray(model_input))


def _load_pyfunc(path):
    """MLflow's loader of the ``best_model``: sknets' own file, checked on load.

    Parameters
    ----------
    path : str
        The model's data: its best_model.safetensors.

    Returns
    -------
    model : _Predictor
    """
    from ..persistence import load

    return _Predictor(load(path))


def _log_best_model(mlflow, uri, parent_id, folder):
    # The best model as a pyfunc model whose loader is _load_pyfunc above:
    # its data is sknets' safetensors file, and nothing is pickled.
    from .. import __version__

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=parent_id):
            mlflow.pyfunc.log_model(
                name="best_model", loader_module=__name__,
                data_path=str(folder.best_model_path),
                pip_requirements=[f"sknets=={__version__}"])
    finally:
        mlflow.set_tracking_uri(previous)
