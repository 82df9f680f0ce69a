"""The ``sknets`` command: ``sknets compare`` runs a comparison study, and
``sknets report`` renders a run's report again.

Examples::

    sknets compare
    sknets compare --model cnn --dataset fashion-mnist --max-iter 10 \\
        --param learning_rate_init=0.01,0.001 --output runs/fashion-cnn
    sknets compare --param "hidden_layer_sizes=(128,);(256,128)" --cv 3
    sknets compare --config study.toml
    sknets compare --search halving --max-iter 90
    sknets report runs/mlp-digits
"""

import argparse
import ast
import contextlib
import shlex
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from ._typing import StrPath

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from . import __version__
from .compare._mlflow import TrackingError

__all__ = ["command_line", "main", "parse_param"]

MODELS = {"mlp": "MLPClassifierTorch", "cnn": "CNNClassifierTorch"}
DEFAULT_GRIDS = {
    # Width x depth x learning rate: six candidates, seconds each on digits.
    "mlp": {"hidden_layer_sizes": [(64,), (128,), (64, 64)],
            "learning_rate_init": [1e-3, 1e-2]},
    "cnn": {"conv_layers": [((16, 3),), ((16, 3), (32, 3))],
            "learning_rate_init": [1e-3, 1e-2]},
}
# Every setting of a study and its default: the command line, a --config
# TOML file and the help text all read them here.
DEFAULTS = {"model": "mlp", "dataset": "digits", "param": None, "cv": 5,
            "repeats": None, "test_size": 0.2, "n_jobs": None, "output": None,
            "max_iter": 60, "random_state": 0, "device": "auto", "scheduler": None,
            "search": "grid", "factor": 3, "mlflow": None,
            "mlflow_experiment": "sknets", "tensorboard": None}


def _grid_text(grid):
    return " x ".join(f"{name} in {values}" for name, values in grid.items())


EPILOG = f"""\
Without --param, the default grid of each model is compared:
  mlp: {_grid_text(DEFAULT_GRIDS["mlp"])}
  cnn: {_grid_text(DEFAULT_GRIDS["cnn"])}
With --param (or a [params] table), the grid is exactly the parameters given.

--config reads the same settings from a TOML file; command-line options
override it. For example, study.toml:

  model = "mlp"
  dataset = "digits"
  max_iter = 30
  cv = 5
  output = "runs/lr-study"
  [params]
  learning_rate_init = [0.01, 0.001]
  hidden_layer_sizes = [[64], [128, 64]]

  sknets compare --config study.toml
"""

SYNTAX = ("--param NAME=V1,V2,... with Python literals or bare words, e.g. "
          "learning_rate_init=0.01,0.001 or loss=cross_entropy,mse; separate "
          "values that contain commas with ';', e.g. "
          "\"hidden_layer_sizes=(128,);(256,128)\"")


class UsageError(ValueError):
    """A command-line value sknets cannot use, with what to write instead."""


class ClusterError(RuntimeError):
    """The Dask cluster lost work; what was finished is saved."""


def _split_values(text):
    if ";" in text:
        return [part for part in text.split(";") if part.strip()]
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def _literal(text):
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.replace("_", "").replace("-", "").isalnum():
            return text  # a bare word: an option string such as relu
        raise


def parse_param(text: str, valid_names: Collection[str]) -> tuple[str, list]:
    """Parse one ``--param NAME=V1,V2`` into (name, list of values).

    Parameters
    ----------
    text : str
        The option's value.
    valid_names : collection of str
        The estimator's parameter names.

    Returns
    -------
    name : str
    values : list

    Examples
    --------
    >>> from sknets.cli import parse_param
    >>> parse_param("hidden_layer_sizes=(128,);(256,128)", {"hidden_layer_sizes"})
    ('hidden_layer_sizes', [(128,), (256, 128)])
    >>> parse_param("loss=cross_entropy,mse", {"loss"})
    ('loss', ['cross_entropy', 'mse'])
    """
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise UsageError(f"Cannot read --param {text!r}. Write {SYNTAX}.")
    if name not in valid_names:
        raise UsageError(f"Unknown parameter {name!r}. The parameters are: "
                         f"{', '.join(sorted(valid_names))}.")
    try:
        parsed = [_literal(part) for part in _split_values(values)]
    except (ValueError, SyntaxError) as exc:
        raise UsageError(f"Cannot read the values of --param {text!r} ({exc}). "
                         f"Write {SYNTAX}.") from None
    return name, parsed


def _load_dataset(spec):
    """(X, y, X_test, y_test, class_names, data summary) for a --dataset value."""
    from .datasets import (
        DATASETS,
        load_digits_images,
        load_fashion_mnist,
        load_image_folder,
        load_mnist,
        read_idx,
    )

    kind, _, path = spec.partition(":")
    if spec == "digits":
        X, y = load_digits_images(return_X_y=True)
        return X, y, None, None, None, None
    if spec in ("mnist", "fashion-mnist"):
        loader = load_mnist if spec == "mnist" else load_fashion_mnist
        train = loader()
        X_test, y_test = loader(kind="test", return_X_y=True)
        return train.data, train.target, X_test, y_test, train.target_names, None
    if kind == "idx" and path:
        arrays = {}
        for part, (images, labels) in {
                "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}.items():
            found = []
            for name in (images, labels):
                candidates = [Path(path) / f"{name}.gz", Path(path) / name]
                hit = next((c for c in candidates if c.exists()), None)
                if hit is None:
                    raise UsageError(f"--dataset {spec}: {path} lacks {name}(.gz).")
                found.append((hit, read_idx(hit)))
            (images_file, images), (labels_file, labels) = found
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise UsageError(
                    f"--dataset {spec}: {images_file.name} must hold images (n, "
                    f"height, width) and {labels_file.name} one label per image "
                    f"(n,); they hold shapes {images.shape} and {labels.shape}.")
            X = images.reshape(len(images), -1).astype(np.float32) / 255
            arrays[part] = (X, labels.astype(np.int64))
        return (*arrays["train"], *arrays["test"], None, None)
    if kind == "folder" and path:
        data = load_image_folder(path)
        print(data.summary, flush=True)
        return (data.data, data.target, None, None, data.target_names,
                data.summary.lines())
    raise UsageError(f"Unknown --dataset {spec!r}; use digits, mnist, fashion-mnist "
                     f"(see {sorted(DATASETS)}), idx:PATH or folder:PATH.")


def _parser():
    parser = argparse.ArgumentParser(prog="sknets", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--version", action="version", version=f"sknets {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "compare", help="compare a grid of configurations and write a report",
        description="Train every candidate of a grid, pick the best by validation "
                    "macro-F1, test it, and write results.csv, report.html, "
                    "report.md and figures.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--model", choices=sorted(MODELS),
                     help="mlp (MLPClassifierTorch) or cnn (CNNClassifierTorch); "
                          f"default {DEFAULTS['model']}")
    run.add_argument("--dataset", help="digits (default: scikit-learn's embedded "
                                       "8x8 digits), mnist, fashion-mnist, "
                                       "idx:PATH or folder:PATH")
    run.add_argument("--param", action="append", default=None, metavar="NAME=VALUES",
                     help=SYNTAX)
    run.add_argument("--cv", help="a number of folds K (default 5: stratified "
                                  "K-fold, repeated --repeats times) or 'holdout' "
                                  "(one validation split: no test of differences)")
    run.add_argument("--repeats", type=int,
                     help="repetitions of the K-fold split with new folds "
                          "(default 2: 10 validation scores per candidate); 1 "
                          "with --cv holdout")
    run.add_argument("--test-size", type=float,
                     help="the share of the data held out as the test set when "
                          "the dataset has none (default "
                          f"{DEFAULTS['test_size']})")
    run.add_argument("--n-jobs", type=int,
                     help="groups of candidates trained at once in worker "
                          "processes (-1: one per core; default: one at a time "
                          "in this process)")
    run.add_argument("--output", help="output folder (default runs/<model>-<dataset>)")
    run.add_argument("--config", help="a TOML file with the same fields (see "
                                      "below); options given here override it")
    run.add_argument("--max-iter", type=int,
                     help="epochs of every candidate; with --search halving, of "
                          f"the last rung (default {DEFAULTS['max_iter']})")
    run.add_argument("--random-state", type=int,
                     help="seed of the test split, the folds and every "
                          f"candidate's initialisation (default "
                          f"{DEFAULTS['random_state']})")
    run.add_argument("--device",
                     help="auto (CUDA when available), cpu, cuda or cuda:N "
                          f"(default {DEFAULTS['device']})")
    run.add_argument("--search", choices=("grid", "halving"),
                     help="'grid' (default) trains every candidate for --max-iter "
                          "epochs; 'halving' trains them all a few epochs and "
                          "continues only the best (successive halving)")
    run.add_argument("--factor", type=int,
                     help="with --search halving: each rung keeps 1/FACTOR of the "
                          "candidates (default 3)")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="run the candidates on a running dask.distributed "
                          "scheduler (pip install 'sknets[distributed]')")
    _export_options(run)
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    report = commands.add_parser(
        "report", help="render the report of a comparison run again",
        description="Write report.html, report.md and the figures of a run folder "
                    "from its saved results, without training; the run may be "
                    "finished or interrupted.")
    report.add_argument("run_dir", metavar="RUN_DIR", help="the run's output folder")
    _export_options(report)
    return parser


def _export_options(command):
    # --mlflow and --tensorboard, the same for compare and report.
    command.add_argument(
        "--mlflow", nargs="?", const="", metavar="TRACKING_URI",
        help="log the study to MLflow when it ends: a parent run, one child run "
             "per candidate and the best model (pip install 'sknets[tracking]'); "
             "TRACKING_URI such as sqlite:///mlflow.db or http://127.0.0.1:5000, "
             "default MLflow's own (MLFLOW_TRACKING_URI); not logged by default")
    command.add_argument(
        "--mlflow-experiment", metavar="NAME",
        help=f"the MLflow experiment (default {DEFAULTS['mlflow_experiment']})")
    command.add_argument(
        "--tensorboard", metavar="DIR",
        help="write the study as a TensorBoard logdir (HParams and curves; pip "
             "install 'sknets[tracking]'); not written by default")


# The type of each --config field, and how to write it.
_FIELDS = {
    "model": (str, 'a string, e.g. model = "cnn"'),
    "dataset": (str, 'a string, e.g. dataset = "fashion-mnist"'),
    "param": ((str, list), 'a string or a list of strings, e.g. param = '
                           '["alpha=0.0001,0.01"]'),
    "params": (dict, "a table, e.g. [params] then alpha = [0.0001, 0.01]"),
    "cv": ((str, int), 'a number of folds or "holdout", e.g. cv = 3'),
    "repeats": (int, "an integer >= 1, e.g. repeats = 2"),
    "test_size": ((float, int), "a number, e.g. test_size = 0.2"),
    "n_jobs": (int, "an integer, e.g. n_jobs = 2"),
    "output": (str, 'a folder name, e.g. output = "runs/study"'),
    "max_iter": (int, "an integer, e.g. max_iter = 30"),
    "random_state": (int, "an integer, e.g. random_state = 0"),
    "device": (str, 'a string, e.g. device = "cpu"'),
    "scheduler": (str, 'an address, e.g. scheduler = "tcp://host:8786"'),
    "search": (str, '"grid" or "halving", e.g. search = "halving"'),
    "factor": (int, "an integer >= 2, e.g. factor = 3"),
    "mlflow": (str, 'a tracking URI, e.g. mlflow = "sqlite:///mlflow.db" ("" for '
                    "MLflow's default)"),
    "mlflow_experiment": (str, 'a name, e.g. mlflow_experiment = "lr-study"'),
    "tensorboard": (str, 'a folder, e.g. tensorboard = "runs/tb"'),
}


def _check_field(key, value, path):
    types, example = _FIELDS[key]
    ok = isinstance(value, types) and not isinstance(value, bool)
    if ok and key == "param" and isinstance(value, list):
        ok = all(isinstance(item, str) for item in value)
    if not ok:
        raise UsageError(f"{key} in {path} is {value!r}; it must be {example}.")


def _settings(args):
    settings = dict(DEFAULTS)
    if args.config:
        try:
            config = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"Cannot read --config {args.config}: {exc}") from None
        unknown = set(config) - set(settings) - {"params"}
        if unknown:
            raise UsageError(f"Unknown field(s) {sorted(unknown)} in {args.config}; "
                             f"the fields are {sorted(set(settings) | {'params'})}.")
        for key, value in config.items():
            _check_field(key, value, args.config)
        if isinstance(config.get("param"), str):
            config["param"] = [config["param"]]  # one NAME=VALUES, not its letters
        settings.update({k: v for k, v in config.items() if k != "params"})
        if "params" in config:
            settings["grid"] = config["params"]
    for key in settings:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if settings["model"] not in MODELS:
        raise UsageError(f"--model must be one of {sorted(MODELS)}.")
    cv = str(settings["cv"])
    if cv != "holdout":
        if not cv.isdigit() or int(cv) < 2:
            raise UsageError(f"--cv must be 'holdout' or a number of folds >= 2, "
                             f"got {cv!r}.")
        cv = int(cv)
    settings["cv"] = cv
    repeats = settings["repeats"]
    if repeats is None:
        repeats = 1 if cv == "holdout" else 2
    if repeats < 1:
        raise UsageError(f"--repeats must be an integer >= 1, got {repeats}.")
    if cv == "holdout" and repeats != 1:
        raise UsageError("--repeats needs --cv K (repeated K-fold); --cv holdout is "
                         "one split. Drop --repeats, or use --cv 5.")
    settings["repeats"] = repeats
    if settings["search"] not in ("grid", "halving"):
        raise UsageError(f"--search must be 'grid' or 'halving', got "
                         f"{settings['search']!r}.")
    if settings["factor"] < 2:
        raise UsageError(f"--factor must be an integer >= 2, got {settings['factor']}.")
    return settings


def _as_tuples(value):
    # TOML has arrays, scikit-learn parameters want tuples: (128, 64), ((32, 3),).
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def _grid(settings, estimator):
    valid = set(estimator.get_params())
    if settings.get("grid") is not None:
        grid = {}
        for name, values in settings["grid"].items():
            if name not in valid:
                raise UsageError(f"Unknown parameter {name!r}. The parameters are: "
                                 f"{', '.join(sorted(valid))}.")
            values = values if isinstance(values, list) else [values]
            grid[name] = [_as_tuples(value) for value in values]
    elif settings["param"]:
        grid = {}
        for text in settings["param"]:
            name, values = parse_param(text, valid)
            if name in grid:
                raise UsageError(f"--param {name} is given twice; give all its "
                                 f"values in one, e.g. {name}=V1,V2.")
            grid[name] = values
    else:
        grid = DEFAULT_GRIDS[settings["model"]]
    return grid


def _label_keys(grid, y):
    # TOML tables have string keys: a class_weight {"0" = 2.0} of a config
    # weights the label 0 when the labels are not strings.
    values = grid.get("class_weight")
    if not values:
        return grid
    labels = {str(label): label for label in np.unique(np.asarray(y)).tolist()}

    def convert(weights):
        if not isinstance(weights, dict):
            return weights
        return {labels.get(k, k) if isinstance(k, str) and k not in labels.values()
                else k: w for k, w in weights.items()}

    return {**grid, "class_weight": [convert(v) for v in values]}


def _values_text(values):
    # --param's values as parse_param reads them back: Python literals,
    # separated by ';' (a trailing one keeps a lone value with a comma whole).
    text = ";".join(repr(value) for value in values)
    return text + ";" if len(values) == 1 and "," in text else text


def command_line(settings: dict, grid: dict, output: StrPath) -> str:
    """The ``sknets compare`` command that runs a study again, as one line.

    Every setting that shapes the results is written out, defaults
    included, and the grid as ``--param`` options, so the line does not
    depend on a --config file or on this version's defaults.

    Parameters
    ----------
    settings : dict
        The command's settings (``_settings``).
    grid : dict
        The parameter grid compared.
    output : str
        The output folder.

    Returns
    -------
    command : str
        Quoted for a POSIX shell.

    Examples
    --------
    >>> from sknets.cli import DEFAULTS, command_line
    >>> settings = {**DEFAULTS, "repeats": 2}
    >>> print(command_line(settings, {"alpha": [0.0001, 0.01]}, "runs/a"))
    ... # doctest: +NORMALIZE_WHITESPACE
    sknets compare --model mlp --dataset digits --cv 5 --repeats 2 --test-size 0.2
    --max-iter 60 --random-state 0 --device auto --search grid
    --param 'alpha=0.0001;0.01' --output runs/a
    """
    words = ["sknets", "compare", "--model", settings["model"], "--dataset",
             settings["dataset"], "--cv", str(settings["cv"]), "--repeats",
             str(settings["repeats"]), "--test-size", repr(settings["test_size"]),
             "--max-iter", str(settings["max_iter"]), "--random-state",
             str(settings["random_state"]), "--device", settings["device"],
             "--search", settings["search"]]
    if settings["search"] == "halving":
        words += ["--factor", str(settings["factor"])]
    for name, values in grid.items():
        words += ["--param", f"{name}={_values_text(values)}"]
    if settings["n_jobs"] is not None:
        words += ["--n-jobs", str(settings["n_jobs"])]
    if settings["scheduler"] is not None:
        words += ["--scheduler", settings["scheduler"]]
    words += ["--output", str(output)]
    return shlex.join(words)


@contextlib.contextmanager
def _cluster(scheduler, wait_s=20):
    """A dask.distributed client of the scheduler, or None to run locally."""
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: pip install "
                         "'sknets[distributed]'.") from None
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"Cannot reach the scheduler at {scheduler}: {exc}. Start "
                         "one with `dask scheduler` and workers with `dask worker "
                         f"{scheduler}`.") from None
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    with client:
        try:
            client.wait_for_workers(1, timeout=wait_s)
        except TimeoutError:
            raise UsageError(f"The scheduler at {scheduler} has no workers (none "
                             f"joined within {wait_s} s). Start one with `dask "
                             f"worker {scheduler}`.") from None
        try:
            yield client
        except (CancelledError, KilledWorker, CommClosedError) as exc:
            raise ClusterError(
                f"A Dask worker died during the run ({type(exc).__name__}: {exc}). "
                "The candidates finished so far are saved: rerun the same command "
                "to resume."
            ) from exc


def run_compare(settings):
    """Run ``sknets compare`` with its settings; print the ranking.

    Parameters
    ----------
    settings : dict
        The command's settings (``--config`` fields and options).

    Returns
    -------
    result : sknets.compare.ComparisonResult
    """
    from . import CNNClassifierTorch, MLPClassifierTorch
    from .compare import compare

    cls = {"mlp": MLPClassifierTorch, "cnn": CNNClassifierTorch}[settings["model"]]
    estimator = cls(max_iter=settings["max_iter"],
                    random_state=settings["random_state"], device=settings["device"])
    grid = _grid(settings, estimator)
    X, y, X_test, y_test, class_names, read = _load_dataset(settings["dataset"])
    grid = _label_keys(grid, y)
    dataset = settings["dataset"].replace(":", "-").replace("/", "_")
    output = settings["output"] or f"runs/{settings['model']}-{dataset}"
    command = command_line(settings, grid, output)
    _check_exports(settings)  # before anything is trained or written
    with _cluster(settings["scheduler"]) as client:
        result = compare(estimator, grid, X, y, X_test, y_test, cv=settings["cv"],
                         repeats=settings["repeats"],
                         n_jobs=settings["n_jobs"], output_dir=output,
                         test_size=settings["test_size"],
                         random_state=settings["random_state"],
                         class_names=class_names, data_summary=read, client=client,
                         verbose=not settings.get("quiet"),
                         search=settings["search"], factor=settings["factor"],
                         command=command)
    summary = result.evaluation.summary()
    frame = result.results
    metric = result.refit
    columns = [c for c in grid if c in frame] + [
        c for c in (f"mean_{metric}", "ci_low", "ci_high", "tied_with_best",
                    "mean_accuracy", "rung", "epochs", "cpu_time")
        if c in frame]
    print(frame[list(dict.fromkeys(columns))].head(10).to_string(
        index=False, max_colwidth=30, float_format=lambda v: f"{v:.4f}"))
    print(f"\nbest: {result.best_params_}")
    if result.comparison is not None:
        for sentence in result.comparison.summary():
            print(f"- {sentence}")
    (acc_low, acc_high), (f1_low, f1_high) = (
        result.evaluation.intervals["accuracy_ci"],
        result.evaluation.intervals["f1_macro_ci"])
    print(f"test accuracy {summary['accuracy']:.4f} [{acc_low:.4f}, {acc_high:.4f}], "
          f"macro-F1 {summary['f1_macro']:.4f} [{f1_low:.4f}, {f1_high:.4f}] on "
          f"{summary['n_samples']} samples (95% intervals)")
    if result.reused:
        print(f"resumed: {len(result.reused)} candidate(s) from an earlier run, "
              f"{len(result.fitted)} fitted now")
    print(f"report: {Path(output) / 'report.html'}")
    _export(settings, output)
    return result


def _check_exports(settings):
    """Fail before the study when MLflow or TensorBoard cannot be written."""
    if settings.get("mlflow") is not None:
        from .compare._mlflow import check_tracking

        check_tracking(settings["mlflow"] or None)
    if settings.get("tensorboard") is not None:
        from .compare._tensorboard import _writer

        _writer()


def _export(settings, output):
    """Log a run folder to MLflow and TensorBoard, as the settings ask."""
    if settings.get("mlflow") is not None:
        from .compare import log_to_mlflow

        try:
            run_id = log_to_mlflow(output, settings["mlflow"] or None,
                                   settings.get("mlflow_experiment"))
        except TrackingError as exc:
            raise TrackingError(f"{exc} The study is saved in {output}; log it "
                                f"with `sknets report {output} --mlflow URI`.") \
                from None
        print(f"mlflow: run {run_id} in experiment "
              f"{settings.get('mlflow_experiment') or 'sknets'}")
    if settings.get("tensorboard") is not None:
        from .compare import log_to_tensorboard

        print(f"tensorboard: {log_to_tensorboard(output, settings['tensorboard'])} "
              f"(tensorboard --logdir {settings['tensorboard']})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sknets`` console script.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when a Dask worker died (rerun to resume), 2 for
        unusable arguments, data or output folders, or when every candidate
        diverged, 130 when interrupted (the candidates finished so far are
        kept; rerun to resume).

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from sknets.cli import main
    >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
    ...     status = main(["compare", "--max-iter", "2", "--param",
    ...                    "alpha=0.0001,0.01", "--output", tempfile.mkdtemp(),
    ...                    "--quiet"])
    >>> status, "best: {'alpha'" in printed.getvalue()
    (0, True)
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            from .compare import write_report
            from .compare._folder import RunFolder
            from .compare._provenance import rerun

            exports = {"mlflow": args.mlflow, "tensorboard": args.tensorboard,
                       "mlflow_experiment": args.mlflow_experiment
                       or DEFAULTS["mlflow_experiment"]}
            _check_exports(exports)
            print(f"report: {write_report(args.run_dir)}")
            how = rerun(RunFolder(args.run_dir).read_run())
            if how is not None and how[0] == "command":
                print(f"rerun (another --output for a new folder): {how[1]}")
            elif how is not None:
                print(f"rerun from Python, with the same data: {how[1]}")
            _export(exports, args.run_dir)
            return 0
        settings = _settings(args)
        settings["quiet"] = args.quiet
        run_compare(settings)
    except UsageError as exc:
        parser.error(str(exc))
    except (OSError, ValueError, MemoryError) as exc:
        print(f"sknets: error: {exc}", file=sys.stderr)
        return 2
    except ClusterError as exc:
        print(f"sknets: error: {exc}", file=sys.stderr)
        return 1
    except TrackingError as exc:
        print(f"sknets: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsknets: interrupted; finished candidates are saved, rerun the same "
              "command to resume.", file=sys.stderr)
        return 130
    return 0
