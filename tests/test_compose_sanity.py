"""The sanity check's statistics (compose/sanity.py): Spearman correlations equal scipy's, without scipy.

The cascade itself runs on the toy tree in test_compose_tree.py.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

from unitscope.compose.sanity import rank_correlation, spearman


def test_spearman_without_scipy_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000).astype(np.float32)
    y = (x + rng.normal(size=3000)).astype(np.float32)
    x[::5], y[:700] = 0.0, 0.0  # ties: average ranks, as scipy
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    a, b = torch.from_numpy(x.reshape(3, 25, 40)), torch.from_numpy(y.reshape(3, 25, 40))
    want = stats.spearmanr(a.abs().sum(0).flatten(), b.abs().sum(0).flatten()).statistic
    assert rank_correlation(a, b, absolute=True) == pytest.approx(want, abs=1e-12)
    assert rank_correlation(a, torch.zeros_like(b)) == 0.0
    assert rank_correlation(torch.zeros_like(a), torch.zeros_like(b)) is None


def test_sanity_check_needs_no_scipy():
    """scipy is a test dependency only: the sanity check's correlations must not import it."""
    code = """if True:
        import sys
        class NoScipy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "scipy":
                    raise ImportError("scipy is not installed")
        sys.meta_path.insert(0, NoScipy())
        import torch
        from unitscope.compose import pipeline
        from unitscope.compose.sanity import rank_correlation
        a = torch.arange(12.0).view(3, 2, 2)
        print(rank_correlation(a, a.flip(0)), rank_correlation(a, a * 2))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    reversed_rho, same_rho = map(float, done.stdout.split())
    assert same_rho == pytest.approx(1.0) and reversed_rho < 1.0
