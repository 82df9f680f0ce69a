"""A comparison's run folder: its files, their format, and who may write them.

Layout::

    run.json                  what the run is: fingerprint, protocol, candidates
    models/<name>.json        one finished candidate's record (scores, curves)
    models/<name>.safetensors its model (holdout; fold 0 with cv=K)
    models/<name>.refit.safetensors   cv=K with save_all: refitted on all data
    models/<name>.rung<i>.fold<k>.safetensors   successive halving: fold k's
                              model at the end of rung i, which the next
                              rung continues
    best.json                 the best candidate, once refitted and saved
    best_model.safetensors    the best model
    evaluation.json           the best model on the test data
    results.csv               the ranking
    report.md, report.html, figures/*.png
    .lock                     held by the run working in the folder

Every file is written atomically, with the umask's permissions. A record is
written after its model, so a record always has its model. One process at a
time works in a folder: a second run on it waits for the first.
"""

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from .._files import exclusive_lock, write_atomically
from ..persistence import ModelFileError, load, save
from ._record import DIVERGED, Record

FORMAT = 2  # of the run folder; a folder of another format is not resumed

__all__ = ["RunFolder", "FORMAT"]


class RunFolder:
    """The files of one comparison run.

    Parameters
    ----------
    path : str or path-like
        The folder.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.models = self.path / "models"

    # -- opening ---------------------------------------------------------------

    def check_writable(self):
        """Create the folder, or raise a ValueError that says what to change."""
        path = self.path
        for parent in [path, *path.parents]:
            if parent.exists() and not parent.is_dir():
                raise ValueError(f"The output path {path} cannot be a folder: "
                                 f"{parent} is a file. Choose another --output.")
            if parent.exists():
                break
        try:
            self.models.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Cannot create the output folder {path}: "
                             f"{exc.strerror}. Choose another --output.") from None
        if not os.access(self.path, os.W_OK) or not os.access(self.models, os.W_OK):
            raise ValueError(f"Cannot write to the output folder {path} (permission "
                             "denied). Choose another --output.")

    @contextmanager
    def locked(self):
        """Hold the folder for this process; a second run waits its turn."""
        def waiting():
            print(f"sknets: another run is working in {self.path}; waiting for it "
                  "to finish (its finished candidates will be reused).",
                  file=sys.stderr, flush=True)

        with exclusive_lock(self.path / ".lock", on_wait=waiting):
            yield self

    # -- the run's description ---------------------------------------------------

    @property
    def run_file(self):
        return self.path / "run.json"

    def read_run(self):
        """run.json as a dict, or None when the folder holds no run."""
        if not self.run_file.exists():
            return None
        try:
            run = json.loads(self.run_file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.run_file} is unreadable ({exc}); delete the "
                             "folder to start over.") from None
        if not isinstance(run, dict):
            raise ValueError(f"{self.run_file} is damaged (not a JSON object); "
                             "delete the folder to start over.")
        return run

    def save_json(self, relative, record):
        """Write ``record`` as JSON to a file of the folder, atomically."""
        write_atomically(self.path / relative, json.dumps(record))

    def read_json(self, relative):
        """A JSON file of the folder, or None when it is missing."""
        path = self.path / relative
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def save_text(self, relative, text):
        """Write a text file of the folder, atomically."""
        write_atomically(self.path / relative, text)

    def save_bytes(self, relative, data):
        """Write a binary file of the folder, atomically."""
        write_atomically(self.path / relative, data)

    # -- candidates --------------------------------------------------------------

    def model_path(self, name, refit=False):
        return self.models / (f"{name}.refit.safetensors" if refit
                              else f"{name}.safetensors")

    def rung_model_path(self, name, rung, fold):
        """Where successive halving keeps fold ``fold``'s model after ``rung``."""
        return self.models / f"{name}.rung{rung}.fold{fold}.safetensors"

    def finished_record(self, name):
        """The ``Record`` of a finished candidate (or halving rung), or None.

        A record the runner would not have written does not count
        (``Record.from_json``). A diverged candidate may have no model; any
        other needs its model, and with successive halving every fold's
        model of its last rung.
        """
        try:
            record = Record.from_json(self.read_json(f"models/{name}.json"), name)
        except (OSError, ValueError):
            return None  # unreadable: trained again, and rewritten
        if record is None:
            return None
        if record.status != DIVERGED and not self.model_path(name).exists():
            return None
        if record.rungs is not None and record.status != DIVERGED and not all(
                self.rung_model_path(name, record.depth - 1, fold).exists()
                for fold in range(len(record.epochs))):
            return None
        return record

    def keep(self, record, model):
        """Save a finished candidate: its model first, then its record."""
        if model is not None:
            save(model, self.model_path(record.name))
        self.save_json(f"models/{record.name}.json", record.to_json())

    def save_model(self, model, name, refit=False):
        save(model, self.model_path(name, refit))

    def load_model(self, name, refit=False):
        return load_run_model(self.model_path(name, refit), name)

    @property
    def best_model_path(self):
        return self.path / "best_model.safetensors"

    def save_best(self, model):
        save(model, self.best_model_path)

    def load_best(self):
        return load_run_model(self.best_model_path, None)


def load_run_model(path, name):
    """Load a model file of a run folder; a damaged one says how to recover.

    Parameters
    ----------
    path : Path
        The file.
    name : str or None
        The candidate it belongs to (None: the refitted best).

    Raises
    ------
    ModelFileError
        Naming the file, and the file (or record) to delete so that a rerun
        trains it again.
    """
    try:
        return load(path)
    except ModelFileError as exc:
        if name is None:
            remedy = "delete it and rerun: the best model is refitted"
        else:
            remedy = (f"delete it (or the record models/{name}.json) and rerun: "
                      "that candidate trains again")
        raise ModelFileError(f"The run folder's model file {path} is damaged "
                             f"({exc}); {remedy}.") from exc
