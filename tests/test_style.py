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


def test_tables_are_rendered_in_one_place():
    # Markdown and HTML tables (Evaluation.to_markdown, the study report) go
    # through sknets._tables, which escapes every cell.
    marks = ('" | ".join(', "<table", "<th", '"---"', '"---:"')
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for path in (ROOT / "sknets").rglob("*.py")
                 if path.name != "_tables.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if any(mark in line for mark in marks)]
    assert offenders == []


def _sibling_imports(package):
    # Each module of a package and the sibling modules it imports (at any
    # depth of its code: an import inside a function counts too).
    import ast

    imports = {}
    for path in Path(package).glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names.update([node.module] if node.module else
                             [alias.name for alias in node.names])
        imports[path.stem] = names - {"__init__"}
    return imports


def test_the_comparison_package_has_no_import_circle():
    root = Path(__file__).resolve().parents[1] / "sknets" / "compare"
    imports = _sibling_imports(root)
    imports.pop("__init__")
    done, visiting = set(), []

    def visit(module):
        assert module not in visiting, f"import circle: {visiting + [module]}"
        if module in done or module not in imports:
            return
        visiting.append(module)
        for other in sorted(imports[module]):
            visit(other)
        visiting.pop()
        done.add(module)

    for module in sorted(imports):
        visit(module)
    assert {"_compare", "_runner", "_halving", "_report", "_render"} <= done
