"""Grid searches on a dask.distributed cluster, through joblib's Dask backend."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.cli import main

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=None,
                                    silence_logs=50)


@pytest.fixture(scope="module")
def client():
    cluster = _cluster()
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _torch_threads():
    import torch

    return torch.get_num_threads()


def test_searches_on_the_cluster_equal_local_ones(client, small_digits):
    # The same random_state gives the same best_params_ and the same scores.
    X, _, y, _ = small_digits
    searches = [
        (MLPClassifierTorch(max_iter=8, random_state=0, device="cpu"),
         {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [1e-3, 1e-2]}),
        (CNNClassifierTorch(max_iter=3, random_state=0, device="cpu"),
         {"conv_layers": [((4, 3),), ((8, 3),)]}),
    ]
    for estimator, grid in searches:
        with parallel_config(backend="dask"):
            remote = GridSearchCV(estimator, grid, cv=2, n_jobs=-1).fit(X, y)
        local = GridSearchCV(estimator, grid, cv=2, n_jobs=1).fit(X, y)
        assert remote.best_params_ == local.best_params_
        np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                                   local.cv_results_["mean_test_score"], atol=1e-6)
    # One thread per worker (Dask's nanny sets OMP_NUM_THREADS=1).
    assert set(client.run(_torch_threads).values()) == {1}


def test_fused_search_sends_groups_to_the_workers(client, small_digits):
    # sknets' GridSearchCV hands whole fused groups to the cluster: 2
    # activations x 2 rates x 2 folds are 2 groups of 4 fits of equal cost,
    # one per worker; the scores are the local fused search's.
    from sknets.model_selection import GridSearchCV as FusedGridSearchCV

    X, _, y, _ = small_digits
    estimator = MLPClassifierTorch(max_iter=4, random_state=0, device="cpu")
    grid = {"activation": ["relu", "tanh"], "learning_rate_init": [1e-3, 1e-2]}
    with distributed.get_task_stream(client) as stream:
        with parallel_config(backend="dask"):
            remote = FusedGridSearchCV(estimator, grid, cv=2, n_jobs=-1,
                                       refit=False).fit(X, y)
    units = [task for task in stream.data if "_fit_unit" in task["key"]]
    assert len(units) == 2
    assert len({task["worker"] for task in units}) == 2
    local = FusedGridSearchCV(estimator, grid, cv=2, refit=False).fit(X, y)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=0.02)


def test_compare_command_on_a_scheduler(client, tmp_path):
    # `sknets compare --scheduler` runs the candidates on the cluster.
    output = tmp_path / "run"
    status = main(["compare", "--scheduler", client.scheduler.address, "--max-iter",
                   "3", "--param", "learning_rate_init=0.01,0.001", "--output",
                   str(output), "--quiet"])
    assert status == 0
    assert len(pd.read_csv(output / "results.csv")) == 2
    assert (output / "report.html").exists()


def test_compare_uses_a_one_thread_cluster(tmp_path):
    # The per-GPU layout (one worker, one thread): the candidates still run
    # on the worker, not in the client process (joblib read one cluster
    # thread as n_jobs=1), as one fused group.
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50)
    client = distributed.Client(cluster)
    try:
        with distributed.get_task_stream(client) as stream:
            status = main(["compare", "--scheduler", cluster.scheduler_address,
                           "--max-iter", "2", "--param", "alpha=0.0001,0.01,1.0",
                           "--output", str(tmp_path), "--quiet"])
        assert status == 0
        ran = [task for task in stream.data if "run_group" in task["key"]]
        assert len(ran) == 1
        assert len(pd.read_csv(tmp_path / "results.csv")) == 3
    finally:
        client.close()
        cluster.close()


def test_scheduler_without_workers_is_a_clear_error():
    # A scheduler no worker joined: a UsageError naming the fix, not a hang.
    from sknets.cli import UsageError, _cluster

    cluster = distributed.LocalCluster(n_workers=0, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50)
    try:
        with pytest.raises(UsageError, match="has no workers .* `dask worker"):
            with _cluster(cluster.scheduler_address, wait_s=1):
                pass
    finally:
        cluster.close()


def test_a_killed_worker_never_hangs_the_search(small_digits):
    # A worker killed mid-search: the search finishes (Dask reruns the lost
    # work on the restarted worker) or fails clearly, within the time limit.
    X, _, y, _ = small_digits
    cluster = _cluster()
    client = distributed.Client(cluster)
    outcome = {}

    def search():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                with parallel_config(backend="dask"):
                    outcome["search"] = GridSearchCV(
                        MLPClassifierTorch(max_iter=60, random_state=0, device="cpu"),
                        {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=2, n_jobs=-1,
                    ).fit(X, y)
        except Exception as exc:  # a failure must be an exception, not a hang
            outcome["error"] = exc

    try:
        pids = client.run(os.getpid)
        runner = threading.Thread(target=search, daemon=True)
        runner.start()
        time.sleep(1.5)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        runner.join(timeout=150)
        assert not runner.is_alive(), "the search hung after a worker was killed"
        if "search" in outcome:
            assert outcome["search"].best_params_["alpha"] in (1e-4, 1e-3, 1e-2, 1e-1)
        else:
            assert str(outcome["error"]), "the failure has no message"
    finally:
        client.close()
        cluster.close()


def test_compare_survives_a_killed_worker_by_resuming(tmp_path, capsys):
    # `sknets compare --scheduler` with a worker killed mid-run either
    # finishes or stops with a clear message; rerunning completes the study,
    # fitting only what was missing.
    cluster = _cluster()
    client = distributed.Client(cluster)
    output = tmp_path / "run"
    args = ["compare", "--scheduler", cluster.scheduler_address, "--max-iter", "80",
            "--param", "learning_rate_init=0.01,0.003,0.001,0.0003", "--output",
            str(output), "--quiet"]
    status = {}
    try:
        pids = client.run(os.getpid)
        runner = threading.Thread(target=lambda: status.update(first=main(args)),
                                  daemon=True)
        runner.start()
        time.sleep(2.0)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        runner.join(timeout=150)
        assert not runner.is_alive(), "the run hung after a worker was killed"
        if status["first"] != 0:
            assert status["first"] == 1
            assert "A Dask worker died" in capsys.readouterr().err
            time.sleep(1.0)  # the nanny restarts the worker
            assert main(args) == 0
        assert len(pd.read_csv(output / "results.csv")) == 4
    finally:
        client.close()
        cluster.close()



def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_halving_on_a_scheduler_completes_with_the_local_results(tmp_path,
                                                                 small_digits):
    # A real scheduler and worker processes, as `dask scheduler` and `dask
    # worker` start them: every rung sends the study to the workers again,
    # and the second rung's tasks lost their data when it went under the
    # first rung's content-hashed key, which the scheduler was releasing.
    import subprocess
    import sys

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
         str(port), *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "dask", "worker", address, "--nworkers", "2",
         "--nthreads", "1", "--host", "127.0.0.1", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        grid = "0.01,0.001,0.003,0.0001,0.0003,0.00001,0.00003,0.000001,0.000003"
        args = ["compare", "--max-iter", "9", "--search", "halving", "--param",
                f"learning_rate_init={grid}", "--quiet"]
        status = main([*args, "--scheduler", address, "--output",
                       str(tmp_path / "cluster")])
        assert status == 0
        assert main([*args, "--output", str(tmp_path / "local")]) == 0
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    remote = pd.read_csv(tmp_path / "cluster" / "results.csv")
    local = pd.read_csv(tmp_path / "local" / "results.csv")
    pd.testing.assert_frame_equal(remote.drop(columns=["fit_time", "cpu_time"]),
                                  local.drop(columns=["fit_time", "cpu_time"]))


def test_every_rung_sends_the_study_under_a_key_of_its_own(client, tmp_path,
                                                           small_digits, monkeypatch):
    # The cause of the lost dependencies above, checked on every run: each
    # rung's scatter gets a new key, never the one the last rung released.
    from sknets.compare import compare

    X, _, y, _ = small_digits
    keys, scatter = [], client.scatter

    def recording(data, **kwargs):
        futures = scatter(data, **kwargs)
        keys.extend(f.key for f in futures)
        return futures

    monkeypatch.setattr(client, "scatter", recording)
    grid = {"learning_rate_init": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 3e-6, 3e-5, 3e-4,
                                   3e-3]}
    est = MLPClassifierTorch((8,), max_iter=9, n_iter_no_change=100,
                             random_state=0, device="cpu")
    compare(est, grid, X, y, output_dir=tmp_path / "run", client=client, cv=3,
            repeats=1, verbose=False, search="halving")
    assert len(keys) == 3 and len(set(keys)) == 3
