"""
An image folder, the resize/invert/scale/dilate pipeline, Xavier init (seed 000)
================================================================================

Seed 000 trained on Bangla digits (NumtaDB): folders of colour PNGs with a
CSV of file names and labels, resized to 28x28, inverted, normalised and
dilated, and compared Xavier normal against uniform initialisation.
:func:`sknets.datasets.load_image_folder` reads such a folder and
:mod:`sknets.preprocessing` has each step as a transformer.

When ``NUMTADB`` does not point to a NumtaDB folder (for example
``NumtaDB/training-a``, with ``training-a.csv`` beside it), the example
writes a small folder of the same layout from scikit-learn's digits (dark
strokes on light paper, 180x180 RGB). ``SKNETS_EXAMPLE_FULL=1`` trains
longer.
"""

# %%
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sknets import CNNClassifierTorch
from sknets.datasets import load_digits_images, load_image_folder
from sknets.metrics import evaluate
from sknets.preprocessing import DilateImages, ImageResizer, InvertImages, PixelScaler

FULL = os.environ.get("SKNETS_EXAMPLE_FULL") == "1"
# The short default runs stop before convergence; that is expected here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)
folder = os.environ.get("NUMTADB")
if folder:
    folder = Path(folder)
    labels_csv = folder.with_suffix(".csv")
else:
    print("NUMTADB is not set: writing a small NumtaDB-style folder from digits.")
    root = Path(tempfile.mkdtemp())
    folder, labels_csv = root / "training-a", root / "training-a.csv"
    folder.mkdir()
    X_digits, y_digits = load_digits_images(as_images=True, return_X_y=True)
    lines = ["filename,digit"]
    for i in range(600):
        paper = np.uint8(255 - X_digits[i] * 255)  # dark strokes on light paper
        image = Image.fromarray(paper).resize((180, 180), Image.Resampling.NEAREST)
        image.convert("RGB").save(folder / f"a{i:05d}.png")
        lines.append(f"a{i:05d}.png,{y_digits[i]}")
    labels_csv.write_text("\n".join(lines) + "\n")

data = load_image_folder(folder, image_size=(64, 64), labels_csv=labels_csv,
                         as_images=True)
X, y = data.data, data.target

# %%
# What was read. Every image is decoded by one rule per Pillow mode
# (:func:`sknets.datasets.decode_image`): 8-bit values / 255, 16-bit / 65535,
# float images as stored; transparent pixels composited on white paper
# (``background='white'``), so a digit drawn only in the alpha channel reads
# as dark ink. The labels stay as written: NumtaDB's digits '0'..'9' are ten
# classes, and a Bangla '১' would be a class apart from a Latin '1' (pass
# ``label_type=int`` for integer labels; two that read alike are an error).
# The summary lists the images per class, the modes and sizes seen, and any
# file skipped with its reason; check it before trusting a study's numbers.
print(data.summary)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2,
                                                    stratify=y, random_state=0)

# %%
# The seed's preprocessing in front of a CNN; the same pipeline with Xavier
# normal and Xavier uniform initialisation.
for init in ("xavier_normal", "xavier_uniform"):
    model = make_pipeline(
        ImageResizer((28, 28)), InvertImages(), PixelScaler(), DilateImages(2),
        CNNClassifierTorch(batch_size=64, weight_init=init,
                           max_iter=30 if FULL else 10, random_state=0),
    ).fit(X_train, y_train)
    report = evaluate(model, X_test, y_test)
    print(f"{init}: test accuracy {report.accuracy:.4f}, macro-F1 "
          f"{report.f1_macro:.4f}")
print(report)
