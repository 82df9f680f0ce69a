"""scikit-learn's own search tests, run against sknets' fused searches."""

import os
import re
import subprocess
import sys
from pathlib import Path

import sklearn

_IMPORT = "from sklearn.model_selection._search import ("


def test_scikit_learns_search_tests_pass_with_fused_searches(tmp_path):
    tests = Path(sklearn.__file__).parent / "model_selection" / "tests"
    source = tests / "test_search.py"
    text = source.read_text()
    assert text.count(_IMPORT) == 1
    # Every GridSearchCV and RandomizedSearchCV of the file is sknets' (fuse=True
    # by default); the rest of scikit-learn's names stay its own.
    text = text.replace(_IMPORT, "from sknets.model_selection import GridSearchCV, "
                        "RandomizedSearchCV  # noqa\n" + _IMPORT)
    (tmp_path / "test_search_sknets.py").write_text(text)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-W", "ignore", "test_search_sknets.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-4000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert "failed" not in summary and "error" not in summary, summary
    assert passed >= 130, summary
