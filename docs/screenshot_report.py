"""Make docs/report.png: the top of the report of the default ``sknets compare``.

Runs the main job (MLPs on the embedded digits) into a scratch folder and
screenshots its report.html in headless Chromium, as tests/test_report.py
renders it::

    python docs/screenshot_report.py            # writes docs/report.png
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sknets.cli import main

WIDTH, HEIGHT = 1280, 1100


def screenshot(page, png, width=WIDTH, height=HEIGHT):
    """Screenshot an HTML file in headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("headless Chromium is needed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", f"--screenshot={png}"]
        subprocess.run([browser, *flags, Path(page).resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as run:
        if main(["compare", "--output", run, "--quiet"]) != 0:
            sys.exit("sknets compare failed")
        screenshot(Path(run) / "report.html", Path(__file__).parent / "report.png")
