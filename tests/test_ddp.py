"""PyTorch DDP on CPU (gloo): 2 processes train like 1 process with the same global batch."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from colddiff_lib.config import get_config

KW = dict(task="deblur", dataset="mnist", unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8,
          batch_size=8, grad_accum=2, image_size=16, ema_every=1, ema_start=2, ema_decay=0.9, lr=1e-3,
          progress=False, train_steps=4)


def tiny_data():
    from colddiff_lib.data import load_dataset
    ds = load_dataset("mnist", "test", image_size=16, root="/nonexistent-colddiff").subset(torch.arange(64))
    ds.split = "train"
    return ds


def _worker(rank, world, port, tmp):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from colddiff_lib.training import train
        cfg = get_config("smoke", **KW)
        ck_path = os.path.join(tmp, "ddp.pt")
        first = train(cfg, checkpoint=ck_path, data=tiny_data(), stop_after=2, save_every=1)   # "interrupted"
        dist.barrier()
        assert first["step"] == 2
        final = train(cfg, checkpoint=ck_path, data=tiny_data(), save_every=1)                # resumed
        torch.save({"model": final["model"], "ema": final["ema"]}, os.path.join(tmp, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_gloo_ranks_match_single_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), f"ranks differ at {k}"
    from colddiff_lib.training import train
    single = train(get_config("smoke", **KW), checkpoint=tmp_path / "single.pt", data=tiny_data())
    diffs = [float((single["model"][k] - r0["model"][k]).abs().max()) for k in r0["model"]]
    assert max(diffs) < 1e-4
    ck = torch.load(tmp_path / "ddp.pt", weights_only=False)     # only rank 0 wrote, atomically
    assert ck["step"] == 4 and ck["world_size"] == 2
    assert not list(tmp_path.glob(".ddp.pt.*"))
