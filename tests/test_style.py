"""The code base is ruff-clean with the settings in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    # ruff (a test dependency) reports no lint error anywhere in the project.
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_files_are_replaced_in_one_place():
    # Every file sknets writes goes through sknets._files (atomic, fsynced,
    # with the umask's permissions): no other module replaces or writes one.
    writers = ("os.replace(", ".write_text(", ".write_bytes(", ".to_csv(",
               "os.rename(", "shutil.move(")
    offenders = []
    for path in (ROOT / "sknets").rglob("*.py"):
        if path.name == "_files.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if ">>>" not in line and any(w in code for w in writers):
                if ".to_csv(index=False)" in code:  # to a string, not a file
                    continue
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
