"""Progress you can trust: a study in process shows each epoch of the fit in
training with the time left, and says 'together' only of fits that stack."""

import pytest

from sknets import CNNClassifierTorch, MLPClassifierTorch
from sknets.compare import compare
from sknets.training.progress import epoch_listener

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _bar_texts(err):
    return [part.strip() for part in err.replace("\r", "\n").splitlines()]


def test_fits_one_by_one_show_each_fit_and_epoch(tmp_path, small_digits, capsys):
    # CNN fits never stack: the bar names the fit and its epoch, and never
    # says they train together.
    X, _, y, _ = small_digits
    compare(CNNClassifierTorch(((4, 3),), (8,), max_iter=3, random_state=0),
            {"learning_rate_init": [1e-2, 1e-3]}, X[:300], y[:300], cv=2,
            repeats=1, output_dir=tmp_path, verbose=True)
    texts = _bar_texts(capsys.readouterr().err)
    for fit in range(1, 5):
        for epoch in range(1, 4):
            assert any(f"fit {fit}/4: epoch {epoch}/3, about" in t for t in texts), (
                fit, epoch)
    assert not any("together" in t for t in texts)


def test_stacked_fits_show_their_epochs_once(tmp_path, small_digits, capsys):
    X, _, y, _ = small_digits
    compare(MLPClassifierTorch((8,), max_iter=3, random_state=0),
            {"learning_rate_init": [1e-2, 1e-3]}, X, y, cv=2, repeats=1,
            output_dir=tmp_path, verbose=True)
    texts = _bar_texts(capsys.readouterr().err)
    assert any("training 4 fit(s) together: epoch 3/3, about 0 s left" in t
               for t in texts)
    assert not any("fit 1/4" in t for t in texts)


def test_an_epoch_listener_hears_every_epoch_of_a_fit(small_digits):
    X, _, y, _ = small_digits
    heard = []
    with epoch_listener(lambda done, total: heard.append((done, total))):
        MLPClassifierTorch((8,), max_iter=4, random_state=0).fit(X, y)
    MLPClassifierTorch((8,), max_iter=2, random_state=0).fit(X, y)  # not heard
    assert heard == [(1, 4), (2, 4), (3, 4), (4, 4)]
