"""The Fashion-MNIST example end to end: 2 servers, 2 torch worker
processes, a short run that must clearly learn. Skipped without PyTorch or
the data set (Debian package dataset-fashion-mnist)."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, SERVER

pytest.importorskip("torch")
DATA = "/usr/share/datasets/fashion-mnist"
EXAMPLE = os.path.join(ROOT, "worker", "python", "examples", "fashion_mnist_torch.py")


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")),
                    reason=f"no Fashion-MNIST in {DATA}")
@pytest.mark.parametrize("overlap", [False, True], ids=["sync", "overlap"])
def test_fashion_mnist_two_workers_two_shards(overlap):
    argv = [sys.executable, EXAMPLE, f"--server_bin={SERVER}", "--epochs=1", "--max_steps=150",
            "--min_accuracy=0.7", f"--data_dir={DATA}"] + (["--overlap"] if overlap else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("test accuracy") == 2, output
    assert "launcher: OK" in output
