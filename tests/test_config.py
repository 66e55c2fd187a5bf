import dataclasses

import pytest

from colddiff_lib.config import PROFILES, get_config

GOLDEN_DEBLUR_MNIST_HASH = "08183f4d88ffc61c"


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="valid profiles: smoke, cpu, paper"):
        get_config("fast")


def test_unknown_field_lists_valid_ones():
    with pytest.raises(TypeError, match="unknown config field.*learning_rate.*valid fields:.*lr"):
        get_config("smoke", learning_rate=1e-3)


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="unknown task 'deblurr'"):
        get_config("smoke", task="deblurr")


def test_paper_profile_holds_published_settings():
    c = get_config("paper", task="deblur", dataset="mnist")
    assert (c.lr, c.batch_size, c.grad_accum, c.train_steps) == (2e-5, 32, 2, 700_000)
    assert (c.ema_decay, c.ema_every, c.ema_start) == (0.995, 10, 2000)
    assert (c.unet_dim, c.dim_mults, c.attn_heads, c.attn_dim_head) == (64, (1, 2, 4, 8), 4, 32)
    assert c.image_size == 32
    assert get_config("paper", task="deblur", dataset="celeba").image_size == 128
    assert get_config("paper", task="inpaint", dataset="celeba").train_steps == 350_000


def test_configs_are_frozen_and_overrides_explicit():
    c = get_config("smoke", train_steps=7)
    assert c.train_steps == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0
    assert c.replace(lr=0.5).lr == 0.5
    with pytest.raises(TypeError, match="unknown config field"):
        c.replace(nope=1)


def test_hash_covers_training_fields_only():
    a = get_config("smoke")
    assert a.hash == get_config("smoke", progress=False, n_eval=3).hash
    assert a.hash != get_config("smoke", lr=0.123).hash
    assert a.hash != get_config("smoke", dataset="cifar10-standin").hash


def test_hflip_is_off_for_the_digit_model_and_old_hashes_hold():
    assert get_config("smoke").hflip and not get_config("smoke", task="ddpm").hflip
    assert all(not get_config(p, task="ddpm").hflip for p in PROFILES)
    # a field added later leaves the hash of every config at its old behaviour unchanged (golden:
    # the hash of the committed smoke MNIST deblurring weights, written before hflip existed)
    assert get_config("smoke", task="deblur", dataset="mnist").hash == GOLDEN_DEBLUR_MNIST_HASH
    assert get_config("smoke", hflip=False).hash != get_config("smoke").hash


def test_tagged_variant_has_its_own_files_and_settings():
    plain, ws = get_config("smoke", task="deblur"), get_config("smoke", task="deblur", tag="workshop")
    assert ws.run_name == "deblur-mnist-workshop" and ws.checkpoint_path != plain.checkpoint_path
    assert ws.weights_path.name == "deblur-mnist-workshop.pt" and ws.hash != plain.hash
    assert ws.unet_dim == 32 and plain.unet_dim == 16
    assert get_config("smoke", task="deblur", tag="workshop", train_steps=5).train_steps == 5   # overrides win


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_builds(profile):
    assert get_config(profile).profile == profile


def test_bad_values_fail_clearly():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        get_config("smoke", batch_size=0)


def test_file_names_never_collide_and_defaults_keep_committed_names():
    # the profile's own configs keep the plain names of the committed weights
    for task, tag in (("deblur", ""), ("inpaint", ""), ("ddpm", ""), ("deblur", "workshop")):
        c = get_config("smoke", task=task, **({"tag": tag} if tag else {}))
        assert c.weights_path.name == f"{c.run_name}.pt" and c.weights_path.exists()
    # the README's override example gets its own files, named by its hash
    c = get_config("smoke", task="deblur", dataset="mnist", train_steps=300)
    assert c.weights_path.name == f"deblur-mnist-{c.hash}.pt" != get_config("smoke").weights_path.name
    assert get_config("smoke", progress=False, n_eval=5).weights_path == get_config("smoke").weights_path


def test_config_hashes_of_every_profile_are_unchanged():
    """Golden hashes: committed weights and running trainings stay valid across refactors."""
    golden = {("smoke", "deblur", "mnist", ""): "08183f4d88ffc61c",
              ("smoke", "ddpm", "mnist", ""): "d698e2393a662fe6",
              ("smoke", "deblur", "mnist", "workshop"): "d1b004ac79b3f957",
              ("smoke", "inpaint", "mnist", "workshop"): "3b551ab2d9e31684",
              ("paper", "deblur", "mnist", ""): "3e921137132ee063",
              ("paper", "inpaint", "celeba", ""): "62f3ffa881c802fb",
              ("cpu", "deblur", "mnist", ""): "f2dfd8ace4a45133",
              ("cpu", "inpaint", "mnist", ""): "04ca3d52bb0afd31",
              ("cpu", "superres", "mnist", ""): "645a4b26821e1362",
              ("cpu", "blurgen", "mnist", ""): "5c56df8d7662082b",
              ("cpu", "hot", "mnist", ""): "61503e3631e62942"}
    for (profile, task, ds, tag), h in golden.items():
        assert get_config(profile, task=task, dataset=ds, **({"tag": tag} if tag else {})).hash == h


def test_scaled_blur_schedules_get_new_hashes_and_nothing_else_does():
    """The CelebA/AFHQ blur sigmas scaled by size/128 (below 128 px) change D, so those configs'
    hashes change (old checkpoints are refused); every other config keeps its hash."""
    from colddiff_lib.tasks import schedule_revision
    assert schedule_revision("deblur", "celeba-standin", 32) == schedule_revision("blurgen", "afhq", 64) is not None
    for args in [("deblur", "celeba", 128), ("blurgen", "mnist", 32), ("deblur", "cifar10-standin", 32),
                 ("inpaint", "celeba-standin", 32), ("hot", "afhq-standin", 32)]:
        assert schedule_revision(*args) is None
    a = get_config("smoke", task="deblur", dataset="celeba-standin")
    assert "schedule" in a.training_dict() and "schedule" not in get_config("smoke").training_dict()
    assert a.weights_path.name == "deblur-celeba-standin.pt"          # still the profile's default file


def test_blur_sigmas_scaled_divides_the_published_128px_sigmas_and_tags_the_hash():
    """blur_sigmas='scaled': MNIST blur generation gets sigma_t = exp(0.01 (t-1)) * 32/128 (the
    published formula, written out here), and its config the hash of the trained ablation
    (results/cpu/ablations/table5_blurgen_mnist_schedule.md); 'published' gives a 32-px CelebA
    stand-in the first release's D and hash; MNIST and CIFAR-10 deblurring have their own 32-px
    schedules, which no setting touches."""
    import math
    from colddiff_lib.tasks import make_degradation
    auto = get_config("cpu", task="blurgen", dataset="mnist")
    scaled = auto.replace(blur_sigmas="scaled")
    assert [round(s, 12) for s in make_degradation(scaled, 1).sigmas] == \
        [round(math.exp(0.01 * i) * 32 / 128, 12) for i in range(300)]
    assert make_degradation(auto, 1).sigmas[299] == math.exp(2.99)
    assert (auto.hash, scaled.hash) == ("5c56df8d7662082b", "17e1e563d73c496f")
    assert scaled.file_stem == "blurgen-mnist-17e1e563d73c496f"        # never the committed weights' file
    face = get_config("smoke", task="deblur", dataset="celeba-standin")
    first = face.replace(blur_sigmas="published")
    assert make_degradation(first, 3).sigmas[0] == 1.0 and make_degradation(face, 3).sigmas[0] == 32 / 128
    assert first.training_dict() == {k: v for k, v in face.training_dict().items() if k != "schedule"}
    assert face.replace(blur_sigmas="scaled").hash == face.hash
    for ds in ("mnist", "cifar10"):
        base = get_config("cpu", task="deblur", dataset=ds)
        for setting in ("published", "scaled"):
            other = base.replace(blur_sigmas=setting)
            assert other.hash == base.hash and make_degradation(other, 1).sigmas == make_degradation(base, 1).sigmas


# --- what the notebooks run per profile (plans.NOTEBOOK_DATASETS, plans.GENERATION_PLANS) ----------
def _write_fashion_test_split(root):
    import gzip
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    hdr = lambda dims: bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(hdr((2, 28, 28)) + bytes(2 * 28 * 28))
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(hdr((2,)) + bytes([3, 4]))


def test_notebook_datasets_follow_the_profile(tmp_path, monkeypatch):
    """smoke keeps what its committed notebooks ran (MNIST and labelled stand-ins); cpu runs the real
    data, Fashion-MNIST only where installed; paper the paper's datasets; DATASETS given wins."""
    from colddiff_lib import data, plans
    monkeypatch.setattr(data, "FASHION_DEBIAN", tmp_path / "no-debian-copy")
    nd = lambda p, t, given=None: plans.notebook_datasets(p, t, given, data_root=tmp_path)
    assert nd("smoke", "deblur") == ["mnist", "cifar10-standin", "celeba-standin"]
    assert nd("smoke", "snow") == ["cifar10-standin", "celeba-standin"]
    assert nd("smoke", "generation") == ["celeba-standin", "afhq-standin"]
    assert nd("cpu", "inpaint") == ["mnist"] and nd("cpu", "generation") == ["mnist"]
    _write_fashion_test_split(tmp_path)
    assert nd("cpu", "inpaint") == ["mnist", "fashion-mnist"]
    assert nd("paper", "superres") == ["mnist", "cifar10", "celeba"] and nd("paper", "generation") == ["celeba", "afhq"]
    assert nd("cpu", "deblur", "mnist, celeba-standin") == ["mnist", "celeba-standin"]
    with pytest.raises(ValueError, match="unknown dataset.*'cifar'.*valid datasets"):
        nd("cpu", "deblur", ["cifar"])
    with pytest.raises(ValueError, match="unknown notebook topic 'blur'"):
        nd("cpu", "blur")
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        nd("laptop", "deblur")


def test_every_profile_has_a_notebook_plan():
    """Each topic and generation plan covers every profile with datasets and tasks that exist; the
    paper profile never falls back to a stand-in, the cpu profile only where no real data is offline."""
    from colddiff_lib import plans
    from colddiff_lib.data import LOADERS
    from colddiff_lib.tasks import TASKS
    for topic, per in plans.NOTEBOOK_DATASETS.items():
        assert set(per) == set(PROFILES), topic
        assert all(d in LOADERS for ds in per.values() for d in ds), topic
        assert not any(d.endswith("-standin") for d in per["paper"]), topic
        if topic in ("deblur", "inpaint", "superres", "generation"):
            assert not any(d.endswith("-standin") for d in per["cpu"]), topic
    assert set(plans.GENERATION_PLANS) == set(PROFILES)
    for plan in plans.GENERATION_PLANS.values():
        assert all(TASKS[t].kind == "generation" and TASKS[t].variants for t in plan.table_tasks + plan.other_tasks)
        assert plan.reference_split in ("train", "test") and (plan.other_dataset in LOADERS or not plan.other_tasks)
    assert plans.GENERATION_PLANS["cpu"].reference_split == "test"      # issue #10: against the MNIST test set
