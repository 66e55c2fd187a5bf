import os

import pytest
import torch

os.environ.setdefault("CI", "true")          # no progress bars in test output (common.progress_enabled)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
