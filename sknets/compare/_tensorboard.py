"""A study as a TensorBoard logdir: its grid in the HParams format, its curves.

``log_to_tensorboard`` reads a run folder (nothing else: no training) and
writes, with the summary writers of torch and the ``tensorboard`` package,
the HParams experiment (every parameter the grid varies, every metric) at
the logdir's top, and one session per candidate in a subfolder: its
parameters, its scores over the splits, and the per-epoch history of its
first split as scalars. ``tensorboard --logdir DIR`` shows them in its
HParams and Scalars dashboards.
"""

import math
from pathlib import Path

from .._typing import StrPath
from ..persistence import _decode
from ..plotting import _value_text
from ._folder import RunFolder
from ._record import DONE
from ._report import read_results

__all__ = ["log_to_tensorboard"]

_SUFFIX = ".sknets"  # the event files this module writes, and replaces


def _writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError:
        from ._mlflow import TrackingError

        raise TrackingError("Writing TensorBoard logs needs the tensorboard "
                            "package: pip install 'sknets[tracking]'.") from None
    return SummaryWriter, hparams


def _hparam(value):
    # HParams take numbers, strings and booleans: tuples and None as text.
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return _value_text(value)


def _clear(logdir, names):
    # This module's own event files only: another writer's stay.
    for folder in [logdir, *(logdir / name for name in names)]:
        for path in folder.glob(f"events.out.tfevents.*{_SUFFIX}"):
            path.unlink()


def log_to_tensorboard(run_dir: StrPath, logdir: StrPath) -> Path:
    """Write a comparison run folder as a TensorBoard logdir.

    Parameters
    ----------
    run_dir : str or path-like
        A folder written by ``compare`` (finished or interrupted: its
        finished candidates are written).
    logdir : str or path-like
        The logdir; made when missing. Event files an earlier call wrote
        there are replaced, so writing a study again does not repeat it.

    Returns
    -------
    logdir : pathlib.Path

    Raises
    ------
    TrackingError
        When the tensorboard package is not installed.
    ValueError
        When the folder holds no run, or no finished candidate.

    Notes
    -----
    Each candidate's session holds, as HParams metrics, ``mean_<metric>``
    and ``std_<metric>`` over its splits for every metric, the corrected
    95% interval ``ci_low`` and ``ci_high`` of the ranking metric,
    ``tied_with_best`` (1 or 0), ``epochs`` and ``cpu_time``; its scalars
    ``epoch/<key>`` are its first split's history (training loss, and with
    a validation split its validation scores).
    """
    SummaryWriter, hparams = _writer()
    folder = RunFolder(run_dir)
    run, records, _, frame = read_results(folder)
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    names = list(frame["candidate"])
    _clear(logdir, names)
    params_of = {entry["name"]: _decode(entry["params"], "params")
                 for entry in run["candidates"]}
    keys = []
    for name in names:
        keys += [key for key in params_of[name] if key not in keys]
    metrics = [f"{kind}_{metric}" for metric in run["protocol"]["metrics"]
               for kind in ("mean", "std")]
    metrics += ["ci_low", "ci_high", "tied_with_best", "epochs", "cpu_time"]
    values = {name: {key: _hparam(params_of[name].get(key)) for key in keys}
              for name in names}
    discrete = {}
    for key in keys:
        seen = [values[name][key] for name in names]
        if all(isinstance(v, str) for v in seen):
            discrete[key] = sorted(set(seen))
    first = names[0]
    experiment, _, _ = hparams(values[first], dict.fromkeys(metrics, 0.0), discrete)
    with SummaryWriter(str(logdir), filename_suffix=_SUFFIX) as top:
        top.file_writer.add_summary(experiment)
    for position, row in frame.iterrows():
        name = row["candidate"]
        record = records[name]
        scores = {metric: float(row[metric]) if metric != "tied_with_best"
                  else float(bool(row[metric])) for metric in metrics
                  if metric in row}
        _, start, end = hparams(values[name], scores, discrete)
        with SummaryWriter(str(logdir / name), filename_suffix=_SUFFIX) as writer:
            writer.file_writer.add_summary(start)
            for metric, value in scores.items():
                if math.isfinite(value):
                    writer.add_scalar(metric, value, 0)
            for step, key, value in record.curve_points():
                writer.add_scalar(f"epoch/{key}", value, step)
            writer.add_text("candidate", f"#{int(position) + 1}: status "
                            f"{record.status}" + ("" if record.status == DONE
                                                  else " (scores NaN)"), 0)
            writer.file_writer.add_summary(end)
    return logdir
