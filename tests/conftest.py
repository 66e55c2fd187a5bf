import os

import pytest
import torch

os.environ.setdefault("COLDDIFF_PROGRESS", "0")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
