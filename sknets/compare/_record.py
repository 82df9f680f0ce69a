"""A candidate's record: the one place that says what it holds.

A run folder keeps one record per finished candidate (``models/<name>.json``):
its name, parameters, status, split scores, fit time, epochs and histories,
and with successive halving its scores at every rung it reached. ``Record``
builds it from the outcomes of its fits, extends it by a rung, reads it back
(refusing anything the runner would not have written) and writes it; every
other module of the runner reads its attributes.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass, field

from ..persistence import _decode, _encode

__all__ = ["DIVERGED", "DONE", "INTERRUPTED", "Record", "Rung", "candidate_name"]

DIVERGED, DONE, INTERRUPTED = "diverged", "done", "interrupted"
# The statuses a saved record may have: an interrupted candidate is never kept.
SAVED = (DONE, DIVERGED)


def _value_label(value):
    if isinstance(value, tuple):
        return "-".join(_value_label(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def candidate_name(params: dict) -> str:
    """A unique file name for a candidate: readable, then a hash of its values.

    Parameters
    ----------
    params : dict
        The candidate's parameters.

    Returns
    -------
    name : str
        ``name=value`` pairs joined by ``__`` (cut to 90 characters), then
        ``__`` and 8 hex digits of a hash of the exact parameters, so that
        candidates that print alike (``0.01234567`` and ``0.01234568``,
        ``((8, (3, 3)),)`` and ``((8, 3, 3),)``) never share a name.

    Examples
    --------
    >>> from sknets.compare import candidate_name
    >>> candidate_name({"hidden_layer_sizes": (128, 64), "learning_rate_init": 0.01})
    'hidden_layer_sizes=128-64__learning_rate_init=0.01__f1e98a62'
    """
    text = "__".join(f"{key}={_value_label(value)}"
                     for key, value in sorted(params.items()))
    text = re.sub(r"[^A-Za-z0-9=._+-]+", "-", text)[:90] or "default"
    exact = json.dumps(_encode(dict(sorted(params.items())), "params"),
                       sort_keys=True)
    return f"{text}__{hashlib.sha256(exact.encode()).hexdigest()[:8]}"


def _numbers(values):
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _scores_ok(scores):
    # metric -> one number per split, every metric with as many.
    return (isinstance(scores, dict)
            and all(isinstance(k, str) and _numbers(v) and v
                    for k, v in scores.items())
            and len({len(v) for v in scores.values()}) <= 1)


@dataclass
class Rung:
    """A halving candidate at one rung: its epochs in all, status and scores."""

    epochs: int
    status: str
    scores: dict

    def to_json(self):
        """The rung as the record file holds it."""
        return {"epochs": self.epochs, "status": self.status, "scores": self.scores}

    @classmethod
    def from_json(cls, value):
        """The rung of a record file, or None when it is not one."""
        if not (isinstance(value, dict) and isinstance(value.get("epochs"), int)
                and not isinstance(value.get("epochs"), bool)
                and value.get("status") in SAVED and _scores_ok(value.get("scores"))):
            return None
        return cls(value["epochs"], value["status"], value["scores"])


@dataclass
class Record:
    """One candidate's results, as saved in ``models/<name>.json``.

    Parameters
    ----------
    name : str
        ``candidate_name(params)``: computed once, when the record is made.
    params : dict
        The candidate's parameters, encoded for JSON.
    status : str
        ``DONE``, ``DIVERGED`` or (never saved) ``INTERRUPTED``.
    scores : dict
        Metric -> one score per split (NaN for a diverged candidate).
    fit_time : float
        Seconds of training, all splits (and rungs) together.
    epochs : list of int
        Epochs trained per split.
    histories : list
        Each split's per-epoch history, encoded.
    rungs : list of Rung or None, default=None
        With successive halving, the candidate at each rung it reached (the
        last one's status and scores are the record's).
    cpu_time : float or None, default=None
        CPU seconds of training, all splits (and rungs) together: the
        processor time of the process that trained them, all its threads,
        which other processes' load does not inflate as it does
        ``fit_time``. None in records written before it was measured.
    """

    name: str
    params: dict
    status: str
    scores: dict
    fit_time: float
    epochs: list
    histories: list
    rungs: list | None = field(default=None)
    cpu_time: float | None = field(default=None)

    @classmethod
    def from_outcomes(cls, params, outcomes, scoring):
        """A candidate's record from the outcomes of its fits (one per split).

        Parameters
        ----------
        params : dict
        outcomes : list
            Per split: ``status``, ``model`` (None without usable weights),
            ``scores`` (metric -> value, when done), ``fit_time`` and
            ``cpu_time``.
        scoring : dict or list
            The metrics scored.

        Returns
        -------
        record : Record
        """
        statuses = {outcome.status for outcome in outcomes}
        status = next(s for s in (INTERRUPTED, DIVERGED, DONE) if s in statuses)
        scores = {}  # an interrupted candidate is never saved, nor scored
        if status != INTERRUPTED:
            scores = {metric: [math.nan if status == DIVERGED
                               else float(o.scores[metric]) for o in outcomes]
                      for metric in scoring}
        models = [outcome.model for outcome in outcomes]
        return cls(
            name=candidate_name(params), params=_encode(params, "params"),
            status=status, scores=scores,
            fit_time=float(sum(outcome.fit_time for outcome in outcomes)),
            cpu_time=float(sum(outcome.cpu_time for outcome in outcomes)),
            epochs=[0 if m is None else int(m.n_iter_) for m in models],
            histories=[[] if m is None else _encode(m.history_, "history")
                       for m in models])

    def after_rung(self, previous, rung, epochs):
        """This rung's record, with the totals of the rungs before.

        Parameters
        ----------
        previous : Record or None
            The candidate's record after the last rung (None at the first).
        rung : int
        epochs : int
            Epochs trained in all at the end of this rung.

        Returns
        -------
        record : Record
        """
        entry = Rung(epochs, self.status, self.scores)
        if previous is None:
            return Record(**{**vars(self), "rungs": [entry]})
        return Record(**{
            **vars(self),
            "fit_time": previous.fit_time + self.fit_time,
            "cpu_time": (None if previous.cpu_time is None or self.cpu_time is None
                         else previous.cpu_time + self.cpu_time),
            "epochs": [a + b for a, b in zip(previous.epochs, self.epochs,
                                             strict=True)],
            "rungs": previous.rungs[:rung] + [entry]})

    def curve_points(self):
        """The first split's per-epoch history as (epoch, key, value) points.

        Every finite number of each epoch's row but the epoch itself: the
        training loss and accuracy, with a validation split its scores, the
        learning rate and the epoch's duration. What MLflow and TensorBoard
        get as step metrics.

        Returns
        -------
        points : list of (int, str, float)
        """
        history = _decode(self.histories[0], "history") if self.histories else []
        return [(int(row.get("epoch", 0)), key, float(value))
                for row in history for key, value in row.items()
                if key != "epoch" and isinstance(value, (int, float))
                and not isinstance(value, bool) and math.isfinite(value)]

    @property
    def depth(self):
        """Rungs reached (0 without successive halving)."""
        return len(self.rungs) if self.rungs else 0

    def to_json(self):
        """The record as its file holds it."""
        value = {"name": self.name, "params": self.params, "status": self.status,
                 "scores": self.scores, "fit_time": self.fit_time,
                 "epochs": self.epochs, "histories": self.histories}
        if self.rungs is not None:
            value["rungs"] = [rung.to_json() for rung in self.rungs]
        if self.cpu_time is not None:
            value["cpu_time"] = self.cpu_time
        return value

    @classmethod
    def from_json(cls, value, name):
        """The record of file ``models/<name>.json``, or None when it is not one.

        A record that the runner would not have written (edited, damaged,
        of another candidate, interrupted) does not count as finished: the
        candidate is trained again.

        Parameters
        ----------
        value : object
            The file's JSON.
        name : str
            The candidate it must be the record of.

        Returns
        -------
        record : Record or None
        """
        if not (isinstance(value, dict) and value.get("name") == name
                and value.get("status") in SAVED and _scores_ok(value.get("scores"))
                and _numbers(value.get("epochs")) and value["epochs"]
                and isinstance(value.get("histories"), list)
                and len(value["histories"]) == len(value["epochs"])
                and all(isinstance(h, list) for h in value["histories"])
                and isinstance(value.get("fit_time"), (int, float))
                and not isinstance(value.get("fit_time"), bool)
                and "params" in value
                and (value.get("cpu_time") is None or (
                    isinstance(value["cpu_time"], (int, float))
                    and not isinstance(value["cpu_time"], bool)))):
            return None
        rungs = None
        if "rungs" in value:
            raw = value["rungs"]
            rungs = ([Rung.from_json(r) for r in raw] if isinstance(raw, list)
                     else [])
            if (not rungs or None in rungs or rungs[-1].status != value["status"]
                    or rungs[-1].scores != value["scores"]):
                return None
        return cls(name=name, params=value["params"], status=value["status"],
                   scores=value["scores"], fit_time=float(value["fit_time"]),
                   epochs=value["epochs"], histories=value["histories"],
                   rungs=rungs, cpu_time=(None if value.get("cpu_time") is None
                                          else float(value["cpu_time"])))
