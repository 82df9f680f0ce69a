"""Sphinx configuration of sknets' documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import sknets  # noqa: E402

project = "sknets"
author = "the sknets developers"
release = version = sknets.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.pickle"]
autosummary_generate = True
autodoc_default_options = {"members": False}
# The numpydoc docstrings give each parameter's type in words (array-like,
# path-like, ...); the signatures stay as the code writes them, unannotated.
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "plot_gallery": "False",  # CI runs the examples itself, at small size
    "download_all_examples": False,
}

templates_path = ["_templates"]
html_theme = "alabaster"
html_title = f"sknets {release}"
