"""The candidate record: one schema, written and read back in one place."""

import json
import math

import pytest

from sknets.compare._record import Record, Rung


def _record(**changes):
    rungs = [Rung(1, "done", {"accuracy": [0.5, 0.6]}),
             Rung(3, "done", {"accuracy": [0.7, 0.8]})]
    fields = dict(name="a", params={"alpha": 0.1}, status="done",
                  scores={"accuracy": [0.7, 0.8]}, fit_time=1.5, epochs=[3, 3],
                  histories=[[], []], rungs=rungs)
    return Record(**{**fields, **changes})


@pytest.mark.parametrize("record", [_record(), _record(rungs=None),
                                    _record(cpu_time=1.25),
                                    _record(status="diverged", rungs=None,
                                            scores={"accuracy": [math.nan] * 2})])
def test_a_record_reads_back_as_written(record):
    text = json.dumps(record.to_json())
    back = Record.from_json(json.loads(text), "a")
    assert json.dumps(back.to_json()) == text


@pytest.mark.parametrize("change", [
    {"name": "b"}, {"status": "interrupted"}, {"status": None}, {"scores": []},
    {"scores": {"accuracy": [0.7], "f1": [0.1, 0.2]}}, {"epochs": []},
    {"epochs": [True, 3]}, {"histories": [[]]}, {"fit_time": "1"},
    {"cpu_time": "1"}, {"cpu_time": True},
    {"rungs": []}, {"rungs": [{"epochs": "1", "status": "done", "scores": {}}]},
    {"rungs": [{"epochs": 3, "status": "diverged",
                "scores": {"accuracy": [0.7, 0.8]}}]},
])
def test_a_record_the_runner_would_not_write_is_refused(change):
    value = {**_record().to_json(), **change}
    assert Record.from_json(value, "a") is None


def test_a_rung_record_adds_to_the_rungs_before():
    first = _record(rungs=None, epochs=[1, 1], fit_time=1.0).after_rung(None, 0, 1)
    second = _record(rungs=None, epochs=[2, 2], fit_time=2.0).after_rung(first, 1, 3)
    assert second.depth == 2 and second.epochs == [3, 3] and second.fit_time == 3.0
    assert [r.epochs for r in second.rungs] == [1, 3]


def test_a_rung_record_adds_cpu_time_only_when_every_rung_has_it():
    first = _record(rungs=None, cpu_time=1.0).after_rung(None, 0, 1)
    second = _record(rungs=None, cpu_time=2.5).after_rung(first, 1, 3)
    assert second.cpu_time == 3.5
    older = _record(rungs=None).after_rung(None, 0, 1)  # written before CPU times
    assert _record(rungs=None, cpu_time=2.5).after_rung(older, 1, 3).cpu_time is None


def test_curve_points_are_the_first_splits_finite_numbers():
    from sknets.persistence import _encode

    history = [{"epoch": 1, "train_loss": 0.5, "diverged": False, "lr": 0.01},
               {"epoch": 2, "train_loss": math.nan, "valid_f1_macro": 0.7}]
    record = _record(histories=[_encode(history, "history"), []], rungs=None)
    assert record.curve_points() == [(1, "train_loss", 0.5), (1, "lr", 0.01),
                                     (2, "valid_f1_macro", 0.7)]
