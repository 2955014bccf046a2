"""The display window's percentiles: numpy's linear ``np.percentile``, bit for bit, without
the ``np.unique`` call that imports ``numpy.ma`` into every conversion."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ngffstore.image.write import _percentiles


@pytest.mark.parametrize("seed", range(8))
def test_percentiles_match_numpy(seed):
    rng = np.random.default_rng(seed)
    samples = [
        rng.normal(0, 1e3, int(rng.integers(1, 5000))),
        rng.integers(0, 65535, int(rng.integers(1, 5000))).astype(np.float64),
        rng.integers(0, 3, int(rng.integers(1, 50))).astype(np.float64),  # ties everywhere
        rng.gamma(2.0, 300.0, int(rng.integers(1, 5000))) * 1e-30,
        np.array([7.0]),
        np.array([1.0, 2.0]),
    ]
    for values in samples:
        for q in ([0.1, 99.9], [0.0, 100.0], [50.0], sorted(rng.uniform(0, 100, 2).tolist())):
            assert _percentiles(values.copy(), q) == [float(v) for v in np.percentile(values, q)]


def test_window_leaves_numpy_ma_unloaded():
    code = (
        "import sys, numpy as np\n"
        "from ngffstore.image.write import _windows\n"
        "_windows(np.arange(4096, dtype=np.uint16).reshape(2, 64, 32), 'cyx')\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
