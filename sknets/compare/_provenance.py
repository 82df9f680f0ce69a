"""How a study was run: its command, the software and the machine.

``session`` describes one call of ``compare``: the command line that ran it
(or the Python call), the versions of sknets and its stack, the date, the
CPU, the cores and threads, the device and the parallelism. ``plan`` appends
one to run.json's ``sessions`` each time a run starts or resumes, and the
report's "How this was run" section and ``sknets report`` read them back.
"""

import datetime
import os
import platform
from importlib import metadata

import torch

from .. import __version__

__all__ = ["cpu_model", "python_call", "session"]

_PACKAGES = ("torch", "scikit-learn", "skorch", "numpy", "scipy", "pandas")


def cpu_model():
    """The CPU's model name, as ``lscpu`` and /proc/cpuinfo give it.

    Returns
    -------
    name : str
        ``platform.processor()`` where /proc/cpuinfo is missing (macOS,
        Windows), or 'unknown'.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _device(estimator):
    device = str(estimator.get_params().get("device", "cpu"))
    resolved = ("cuda" if device == "auto" and torch.cuda.is_available()
                else "cpu" if device == "auto" else device)
    if resolved.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(resolved).index or 0
        return f"{resolved} ({torch.cuda.get_device_name(index)})"
    return resolved


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def session(estimator, *, command=None, call=None, n_jobs=None, client=None):
    """One call of ``compare``: what ran it and on what.

    Parameters
    ----------
    estimator : estimator
        The base estimator (its device is resolved here).
    command : str, default=None
        The ``sknets compare`` command line, when the command ran the study.
    call : str, default=None
        The Python call (``python_call``), when Python did.
    n_jobs : int, default=None
        ``compare``'s ``n_jobs``.
    client : distributed.Client, default=None
        The Dask client the candidates ran on.

    Returns
    -------
    session : dict
        JSON-ready: ``date`` (UTC, ISO 8601), ``command``, ``call``,
        ``versions`` (sknets, Python and ``_PACKAGES``), ``platform``,
        ``cpu``, ``cores`` (usable by this process), ``torch_threads``,
        ``device``, ``n_jobs`` and ``dask_workers`` (threads of the cluster,
        or None).
    """
    versions = {"sknets": __version__, "python": platform.python_version(),
                **{name: _version(name) for name in _PACKAGES}}
    workers = None
    if client is not None:
        workers = int(sum(client.nthreads().values()))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "command": command, "call": call, "versions": versions,
        "platform": platform.platform(), "cpu": cpu_model(),
        "cores": _usable_cores(), "torch_threads": torch.get_num_threads(),
        "device": _device(estimator), "n_jobs": n_jobs, "dask_workers": workers,
    }


def _estimator_text(estimator):
    # The estimator as Python that builds it: the parameters that differ
    # from the class's defaults, as scikit-learn's repr shows them, in full.
    cls = type(estimator)
    defaults = cls().get_params(deep=False)
    changed = {key: value for key, value in estimator.get_params(deep=False).items()
               if key not in defaults or repr(defaults[key]) != repr(value)}
    args = ", ".join(f"{key}={value!r}" for key, value in changed.items())
    return f"{cls.__name__}({args})"


def python_call(estimator, param_grid, options):
    """The ``compare(...)`` call of a study run from Python, as text.

    Parameters
    ----------
    estimator : estimator
        The base estimator.
    param_grid : dict or list of dict
        The grid.
    options : dict
        ``compare``'s keyword arguments that shape the results (cv, repeats,
        ...): those equal to their default are left out.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sknets import MLPClassifierTorch
    >>> from sknets.compare._provenance import python_call
    >>> python_call(MLPClassifierTorch(max_iter=5), {"alpha": [0.1, 1.0]},
    ...             {"cv": 3})
    "compare(MLPClassifierTorch(max_iter=5), {'alpha': [0.1, 1.0]}, X, y, cv=3)"
    """
    args = [_estimator_text(estimator), repr(param_grid), "X", "y"]
    args += [f"{key}={value!r}" for key, value in options.items()]
    return f"compare({', '.join(args)})"


def rerun(run):
    """What runs a study again, from its run.json: (kind, text) or None.

    Parameters
    ----------
    run : dict
        A run folder's run.json.

    Returns
    -------
    rerun : tuple of (str, str) or None
        ('command', the ``sknets compare`` line) or ('call', the Python
        ``compare(...)`` call) of the latest session; None for a run
        written before sessions were recorded.
    """
    sessions = run.get("sessions") or []
    if not sessions:
        return None
    last = sessions[-1]
    if last.get("command"):
        return "command", last["command"]
    if last.get("call"):
        return "call", last["call"]
    return None
