"""The comparison runner behind ``sknets compare``: a grid, one protocol, a report.

``compare`` trains every candidate of a parameter grid, picks the best by a
validation metric (macro-F1 by default), tests it on held-out data and writes
``results.csv``, ``report.html`` (self-contained), ``report.md``, one PNG per
figure and every candidate's model. Each finished candidate is saved as soon
as it is done, so an interrupted run resumes where it stopped, and
``write_report`` renders the report again from the folder alone.

``_compare.compare`` runs the stages of ``_runner`` (plan, run, rank, refit
the best) with the search strategy of ``search=`` (``STRATEGIES``: ``grid``
in ``_runner``, ``halving`` in ``_halving``), then the report. The run
folder's files and their rules live in ``_folder``, the report's model in
``_model``, its building in ``_report`` and its Markdown and HTML renderings
in ``_render``. No module imports one that imports it.
"""

from ._compare import ComparisonResult, compare
from ._halving import halving_rungs
from ._mlflow import TrackingError, log_to_mlflow
from ._record import candidate_name
from ._report import write_report
from ._tensorboard import log_to_tensorboard

__all__ = ["ComparisonResult", "TrackingError", "candidate_name", "compare",
           "halving_rungs", "log_to_mlflow", "log_to_tensorboard", "write_report"]
