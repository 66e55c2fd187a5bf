"""Write the numbered notebooks (sources only; `make reproduce` executes them with papermill).

    .venv/bin/python notebooks/build_notebooks.py

Each notebook: a title, a cell tagged `parameters`, then short calls into colddiff_lib.
Cells whose first line is `# NBVAL_CHECK_OUTPUT` print rounded numbers that nbval compares in CI.
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
KERNEL = {"display_name": "colddiff (.venv)", "language": "python", "name": "colddiff"}

SETUP = """import os, warnings
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
import matplotlib
import matplotlib.pyplot as plt
%matplotlib inline
from IPython.display import Markdown, display
os.environ["COLDDIFF_PROFILE"] = PROFILE
from colddiff_lib import config, data, degradations, experiments, metrics, plotting, sampling, training"""


def md(s):
    return nbf.v4.new_markdown_cell(s.strip())


def code(s, tags=None):
    c = nbf.v4.new_code_cell(s.strip())
    if tags:
        c.metadata["tags"] = tags
    return c


def params(s):
    return code(s, tags=["parameters"])


def table_notebook(number, title, table, task, datasets, blurb, expect_hold):
    return [
        md(f"# {number}. {title} (Table {table})\n\n{blurb}\n\n"
           "Columns as in the paper: **Degraded** is x_T = D(x0, T); **Sampled** is Algorithm 2 started "
           "from x_T; **Direct** is one application R(x_T, T). All on held-out test images, FID against "
           "the originals. Stand-in datasets are labelled `-standin`: the paper's values sit beside ours "
           "for orientation only."),
        params(f'PROFILE = "smoke"\nDATASETS = {datasets!r}\nN_EVAL = None   # None: the profile\'s n_eval'),
        code(SETUP),
        code(f'df, examples = experiments.run_restoration_table({table}, "{task}", DATASETS, PROFILE, '
             f'"{title}", n_eval=N_EVAL)\ndisplay(df)'),
        code("# NBVAL_CHECK_OUTPUT\nprint(experiments.summary(df))"),
        md("Example restorations (rows: original, degraded, Algorithm 2, direct):"),
        code("for ds, imgs in examples.items():\n    plotting.image_rows(imgs, title=ds)\n    plt.show()"),
        md("## The paper's claims at this scale\n\nThe paper reports that Sampled and Direct beat Degraded on "
           "every metric. Every claim is printed below, including those that do not hold on the "
           "short smoke run. The claims recorded in `notebooks/smoke_claims.json` held when the smoke "
           "results were committed; the cell fails if one of them stops holding."),
        code(f"c = experiments.claims(df)\nexperiments.say_claims(c)\n"
             f"if PROFILE == 'smoke':\n    experiments.assert_claims_kept(c, 'table{table}')"),
    ]


def notebooks():
    nbs = {}
    nbs["00_overview"] = [
        md("# 00. Cold diffusion: overview\n\n"
           "Cold diffusion (Bansal et al., 2022) replaces the Gaussian noise of diffusion models by an "
           "arbitrary degradation D(x0, t) (blur, masking, down-sampling, snow, desaturation, mixing with "
           "another image) and trains a restoration network R(x_t, t) ≈ x0 with an l1 loss. Sampling "
           "alternates restoration and re-degradation; the paper's Algorithm 2,\n\n"
           "x_{s-1} = x_s − D(R(x_s, s), s) + D(R(x_s, s), s−1),\n\n"
           "is exact for degradations linear in s whatever R returns, and works far better than the naive "
           "Algorithm 1.\n\n"
           "Notebooks: 01 degradations, 02 sampling algorithms, 03–06 Tables 1–4, 07 generation (Table 5 "
           "and Figure 21), 08 decolorisation, 09 the hot-diffusion workshop.\n\n"
           "Rerun everything with `make reproduce PROFILE=smoke` (or `cpu`, `paper`); one table with "
           "`make table1` etc."),
        params('PROFILE = "smoke"'),
        code(SETUP),
        code("import dataclasses, pandas as pd\ncfg = config.get_config(PROFILE)\n"
             "pd.DataFrame([{k: str(v) for k, v in dataclasses.asdict(cfg).items()}]).T.rename(columns={0: PROFILE})"),
        md("Where the data of this run comes from (stand-ins are labelled as such):"),
        code("# NBVAL_CHECK_OUTPUT\nfor name in ['mnist', 'cifar10-standin', 'celeba-standin', 'afhq-standin']:\n"
             "    ds = data.load_dataset(name, 'test', image_size=32)\n"
             "    print(f'{name:16s} test images: {len(ds):5d}  channels: {ds.channels}  from: {ds.source}')"),
        md("The paper's values that could be verified (blank = unknown, never zero):"),
        code("experiments.paper_reference()"),
    ]
    nbs["01_degradations"] = [
        md("# 01. The degradations (Figure 1)\n\nEvery operator of the paper on the same test images, from "
           "t = 0 (the identity) to t = T, with its published schedule."),
        params('PROFILE = "smoke"\nN_STEPS_SHOWN = 8'),
        code(SETUP),
        code("import torch\nmn = data.load_dataset('mnist', 'test', 32).batch(torch.tensor([0]))\n"
             "face = data.load_dataset('celeba-standin', 'test', 32).batch(torch.tensor([3]))\n"
             "col = data.load_dataset('cifar10-standin', 'test', 32).batch(torch.tensor([5]))\n"
             "cat = data.load_dataset('afhq-standin', 'test', 32).all()\n"
             "ops = [('deblur', 'mnist', mn), ('deblur', 'cifar10-standin', col), ('inpaint', 'mnist', mn),\n"
             "       ('inpaint', 'celeba-standin', face), ('superres', 'cifar10-standin', col), ('snow', 'cifar10-standin', col),\n"
             "       ('decolor', 'cifar10-standin', col), ('animorph', 'celeba-standin', face), ('hot', 'celeba-standin', col),\n"
             "       ('blurgen', 'celeba-standin', face), ('inpaintgen', 'celeba-standin', face)]\n"
             "rows, titles = {}, None\n"
             "g = torch.Generator().manual_seed(0)\n"
             "for task, ds, x in ops:\n"
             "    D = degradations.build_degradation(task, ds, 32, x.shape[1], source=cat if task == 'animorph' else None)\n"
             "    st = D.sample_state(1, g)\n"
             "    ts = sorted({round(i * D.T / (N_STEPS_SHOWN - 1)) for i in range(N_STEPS_SHOWN)})\n"
             "    rows[f'{task}\\n{ds} (T={D.T})'] = torch.cat([D(x, t, st) for t in ts])\n"
             "fig = plotting.image_rows(rows, title='Forward degradations, t = 0 ... T (evenly spaced)')\n"
             "plotting.savefig(fig, 'figure1_degradations', PROFILE); plt.show()"),
        md("Blur is computed in the Fourier domain (cost flat in t); the check below compares it with "
           "the literal t successive convolutions of the authors' code."),
        code("# NBVAL_CHECK_OUTPUT\nfor task, ds, s, c in [('deblur', 'mnist', 32, 1), ('deblur', 'cifar10', 32, 3), ('deblur', 'celeba', 128, 3)]:\n"
             "    D = degradations.build_degradation(task, ds, s, c)\n"
             "    x = torch.rand(2, c, s, s, generator=torch.Generator().manual_seed(0)) * 2 - 1\n"
             "    err = max(float((D(x, t) - D.literal(x, t)).abs().max()) for t in (1, D.T // 2, D.T))\n"
             "    print(f'{task} {ds:8s} T={D.T:3d} {D.padding:8s}: max |FFT - literal| < 1e-4: {err < 1e-4}')"),
    ]
    nbs["02_sampling_algorithms"] = [
        md("# 02. Algorithm 1 vs Algorithm 2\n\nSection 3 of the paper: for a degradation linear in s, "
           "D(x, s) = x + s·e, Algorithm 2 returns to D(x0, s−1) at every step *whatever R returns*; "
           "Algorithm 1 only does if R is perfect. First the linear toy with an arbitrary, wrong R, then "
           "a trained blur model."),
        params('PROFILE = "smoke"\nN_EVAL = 64'),
        code(SETUP),
        code("import torch\nT = 20\nD = degradations.LinearShift(T, 1, 16, seed=0)\n"
             "g = torch.Generator().manual_seed(0)\nx0 = torch.randn(4, 1, 16, 16, generator=g)\nW = torch.randn(16, 16, generator=g)\n"
             "R = lambda x, t: torch.tanh(x @ W)          # an arbitrary (wrong) restoration operator\n"
             "err = {}\nfor name, fn in (('Algorithm 1', sampling.algorithm1), ('Algorithm 2', sampling.algorithm2)):\n"
             "    e = []\n    fn(R, D, D(x0, T), callback=lambda d: e.append(float((d['x'] - D(x0, d['s'] - 1)).abs().max())))\n"
             "    err[name] = e\n"
             "fig, ax = plt.subplots(figsize=(5, 3))\nfor k, v in err.items(): ax.semilogy(range(T, 0, -1), [max(a, 1e-9) for a in v], label=k)\n"
             "ax.invert_xaxis(); ax.set_xlabel('step s'); ax.set_ylabel('max |x_{s-1} - D(x0, s-1)|'); ax.legend()\n"
             "ax.set_title('Linear toy: distance from the true trajectory')\nplotting.savefig(fig, 'sampling_linear_toy', PROFILE); plt.show()"),
        code("# NBVAL_CHECK_OUTPUT\nprint('Algorithm 2 stays on the trajectory:', max(err['Algorithm 2']) < 1e-4)\n"
             "print('Algorithm 1 leaves it:', min(err['Algorithm 1']) > 1e-2)"),
        md("On the trained MNIST deblurring model (the same one as Table 1):"),
        code("cfg = config.get_config(PROFILE, task='deblur', dataset='mnist')\n"
             "cmp = experiments.compare_algorithms(cfg, n_eval=N_EVAL)\ndisplay(cmp)"),
        code("# NBVAL_CHECK_OUTPUT\nprint(cmp.to_string(index=False, float_format=lambda v: f'{v:.3f}'))"),
        code("a1 = cmp.set_index('method').loc['Algorithm 1']; a2 = cmp.set_index('method').loc['Algorithm 2']\n"
             "holds = a2.RMSE < a1.RMSE\nprint('Claim: Algorithm 2 beats Algorithm 1 on the blur model (RMSE):', 'holds' if holds else 'DOES NOT HOLD at this scale')\n"
             "if PROFILE == 'smoke':\n    assert holds"),
        md("Trajectories: direct estimates x0_hat = R(x_s, s) and the iterates x_s of Algorithm 2."),
        code("model, _ = training.train_or_load(cfg)\nD = training.make_degradation(cfg, 1)\n"
             "x0 = data.load_dataset('mnist', 'test', 32).batch(torch.arange(1))\nxs, x0s = [], []\n"
             "sampling.algorithm2(lambda x, t: model(x, t), D, D(x0, D.T), callback=lambda d: (xs.append(d['x']), x0s.append(d['x0_hat'])))\n"
             "pick = list(range(0, D.T, max(1, D.T // 8)))\n"
             "fig = plotting.image_rows({'x_s (Alg. 2)': torch.cat([xs[i] for i in pick]), 'x0_hat = R(x_s, s)': torch.cat([x0s[i] for i in pick])},\n"
             "                          title='Algorithm 2 trajectory, MNIST deblurring', col_titles=[f's={D.T - i}' for i in pick])\n"
             "plotting.savefig(fig, 'sampling_trajectory_mnist', PROFILE); plt.show()"),
    ]
    nbs["03_deblurring"] = table_notebook("03", "Deblurring", 1, "deblur", ["mnist", "cifar10-standin", "celeba-standin"],
                                          "Gaussian blur with the published schedules (MNIST: 11x11, σ=7, circular; "
                                          "CIFAR-10: σ_t = 0.35 + t/100, reflect; CelebA: σ_t = exp(0.01 t), reflect).",
                                          EXPECT["deblur"])
    nbs["04_inpainting"] = table_notebook("04", "Inpainting", 2, "inpaint", ["mnist", "cifar10-standin", "celeba-standin"],
                                          "Gaussian masks z = 1 − G/max G multiplied step by step (random centres for "
                                          "MNIST/CIFAR-10, centred for CelebA).", EXPECT["inpaint"])
    nbs["05_super_resolution"] = table_notebook("05", "Super-resolution", 3, "superres",
                                                ["mnist", "cifar10-standin", "celeba-standin"],
                                                "Each step halves the resolution (bicubic down, nearest-exact up).",
                                                EXPECT["superres"])
    nbs["06_snowification"] = table_notebook("06", "Desnowification", 4, "snow", ["cifar10-standin", "celeba-standin"],
                                             "ImageNet-C-style snow in torch, severity growing with t (T = 200).",
                                             EXPECT["snow"])
    nbs["08_decolorization"] = table_notebook("08", "Colorization", 8, "decolor", ["cifar10-standin"],
                                              "Linear desaturation to grey in T = 20 steps; restoration is colourisation.",
                                              EXPECT["decolor"])
    nbs["07_generation"] = [
        md("# 07. Generation from fully degraded states (Table 5, Figure 21)\n\n"
           "* **Hot diffusion** (Gaussian noise mixing, x0-prediction, l1): Algorithm 2 with *fixed* noise vs "
           "*estimated* noise (DDIM-like).\n"
           "* **Blur generation**: x_T is a flat image whose per-channel mean is drawn from a Gaussian "
           "mixture fitted to the fully blurred training set. *Perfect symmetry* starts from exactly "
           "flat images; *broken symmetry* adds noise of std 0.002.\n"
           "* Also inpainting (random solid colour start), super-resolution (random 2x2 start) and "
           "animorphosis (start from an animal image).\n\n"
           "FID is computed against the training split (the paper's code does not state its "
           "reference set). Stand-ins are labelled."),
        params('PROFILE = "smoke"\nDATASETS = ["celeba-standin", "afhq-standin"]\nN_GENERATE = None   # None: the profile\'s n_generate\nGRID = 64'),
        code(SETUP),
        code("import pandas as pd\nrows, samples = [], {}\nfor ds in DATASETS:\n"
             "    for task, variants in (('hot', ['fixed noise', 'estimated noise']), ('blurgen', ['perfect symmetry', 'broken symmetry'])):\n"
             "        cfg = config.get_config(PROFILE, task=task, dataset=ds)\n"
             "        r, s = experiments.generation_rows(cfg, variants, n=N_GENERATE)\n"
             "        rows += r\n        samples.update({(ds, k): v for k, v in s.items()})\n"
             "df = experiments.write_table(rows, 5, PROFILE, 'Generation')\ndisplay(df)"),
        code("# NBVAL_CHECK_OUTPUT\nprint(experiments.summary(df, cols=('FID',)))"),
        code("holds = []\nfor ds in DATASETS:\n    d = df[df.dataset == ds].set_index('column').FID\n"
             "    ok = d['blur: broken symmetry'] < d['blur: perfect symmetry']\n    holds.append(ok)\n"
             "    print(f'{ds}: broken symmetry beats perfect symmetry (FID):', 'holds' if ok else 'DOES NOT HOLD at this scale')\n"
             "    ok2 = d['hot: estimated noise'] < d['hot: fixed noise']\n"
             "    print(f'{ds}: estimated noise beats fixed noise for hot diffusion (FID):', 'holds' if ok2 else 'DOES NOT HOLD at this scale')"),
        md("## Figure 21: grids of random samples"),
        code("for (ds, label), (x, xT) in samples.items():\n"
             "    fig = plotting.grid(x[:GRID], nrow=8, title=f'{label}: {ds} (profile {PROFILE})')\n"
             "    plotting.savefig(fig, f\"figure21_{ds}_{label.replace(': ', '_').replace(' ', '-')}\", PROFILE); plt.show()"),
        md("## Other generators: inpainting, super-resolution, animorphosis"),
        code("other = {}\nfor task in ('inpaintgen', 'superresgen', 'animorph'):\n"
             "    cfg = config.get_config(PROFILE, task=task, dataset='celeba-standin')\n"
             "    x, xT, info = experiments.generate(cfg, 8, 'sample', seed=1)\n"
             "    other[f'{task}: x_T'] = xT\n    other[f'{task}: sample'] = x\n"
             "fig = plotting.image_rows(other, title='Generation from fully degraded states (celeba-standin)')\n"
             "plotting.savefig(fig, 'generation_other', PROFILE); plt.show()"),
    ]
    nbs["09_hot_diffusion_workshop"] = [
        md("# 09. Hot diffusion, taken apart, beside cold diffusion\n\n"
           "A workshop in eleven steps. The techniques are those of a well-known course project built on "
           "a large text-to-image model; here a small **class-conditional** noise-prediction U-Net trained on "
           "MNIST stands in for it: class labels play the part of text prompts, and a null label is the "
           "unconditional branch (dropped in with probability 0.1 during training). DDPM: T = 1000, linear "
           "betas 1e-4 … 0.02. All schedules and samplers live in `colddiff_lib/hot.py`.\n\n"
           "In the smoke profile the model is a U-Net of width 32 trained for 2000 steps of 64 digits (bf16 "
           "autocast, about 20 minutes on 2 CPU cores); its EMA weights are committed, so this notebook "
           "only samples (`make reproduce FORCE=1` retrains). Training never mirrors the digits."),
        params('PROFILE = "smoke"\nTS = [250, 500, 750]\nSTRIDE = 30\nGAMMAS = [1.0, 3.0, 5.0]\nHYBRID = (1, 7)   # (low-pass class, high-pass class)\nHYBRID_SIGMAS = [1.5, 2.5, 3.0]\nN_FIDELITY = 100\nSEED = 0'),
        code(SETUP + "\nfrom colddiff_lib import hot\nimport torch"),
        code("cfg = config.get_config(PROFILE, task='ddpm', dataset='mnist')\nmodel, info = training.train_or_load(cfg, channels_last=True)   # channels-last: faster on CPU\n"
             "sched = hot.DDPMSchedule()\ng = lambda k=0: torch.Generator().manual_seed(SEED + k)\n"
             "test = data.load_dataset('mnist', 'test', 32)\nx0 = test.batch(torch.tensor([0, 1, 3, 4]))   # a 7, a 2, a 0, a 4\n"
             "print(f'epsilon model: U-Net dim {cfg.unet_dim}, mults {cfg.dim_mults}, batch {cfg.batch_size}, '\n"
             "      f'{info[\"step\"]} steps, {info[\"wall_s\"]:.0f} s of training (no mirrored digits: hflip={cfg.hflip})')"),
        md("## 1. The forward process\n\nx_t = sqrt(abar_t) x0 + sqrt(1 − abar_t) eps"),
        code("eps = torch.randn(x0.shape, generator=g())\nnoisy = {t: sched.forward(x0, t, eps) for t in TS}\n"
             "fig = plotting.image_rows({'x0': x0, **{f't={t}': noisy[t] for t in TS}}, title='Forward process')\n"
             "plotting.savefig(fig, 'hot_01_forward', PROFILE); plt.show()"),
        md("## 2–4. Denoising: Gaussian filter, one step, iterative\n\n"
           "* **Gaussian filter** (the classical baseline): blur x_t.\n"
           "* **One step**: estimate eps with the network, then x0_hat = (x_t − sqrt(1 − abar_t) eps_hat) / sqrt(abar_t).\n"
           "* **Iterative**: strided DDPM posterior steps (stride 30) with the variance term, from t down to 0."),
        code("rows, rmse = {}, []\nfor t in TS:\n    x_t = noisy[t]\n"
             "    filt = hot.lowpass(x_t, sigma=1.5).clamp(-1, 1)\n"
             "    one = sched.x0_from_eps(x_t, t, hot.cfg_eps(model, x_t, t, None)).clamp(-1, 1)\n"
             "    it = hot.denoise(lambda x, s: hot.cfg_eps(model, x, s, None), sched, x_t, hot.strided_timesteps(t, STRIDE), g(1))\n"
             "    rows.update({f't={t} noisy': x_t, f't={t} Gaussian filter': filt, f't={t} one step': one, f't={t} iterative': it})\n"
             "    rmse.append({'t': t, **{k: metrics.rmse(v, x0) for k, v in (('noisy', x_t), ('Gaussian filter', filt), ('one step', one), ('iterative', it))}})\n"
             "fig = plotting.image_rows(rows, title='Denoising: Gaussian filter vs one step vs iterative')\n"
             "plotting.savefig(fig, 'hot_02_04_denoising', PROFILE); plt.show()\nimport pandas as pd\nrmse = pd.DataFrame(rmse).set_index('t')"),
        code("# NBVAL_CHECK_OUTPUT\nprint('RMSE against the clean digits ([0, 1] scale):')\nprint(rmse.round(3).to_string())"),
        md("## 5. Sampling from pure noise, then classifier-free guidance\n\n"
           "eps = eps_u + gamma (eps_c − eps_u). gamma = 1 is plain conditional sampling; larger gamma trades "
           "diversity for fidelity to the class."),
        code("digits = torch.arange(10)\nrows = {'unconditional': hot.sample(model, sched, 10, None, stride=STRIDE, generator=g(2))}\n"
             "for gm in GAMMAS:\n    rows[f'gamma={gm}'] = hot.sample(model, sched, 10, digits, gamma=gm, stride=STRIDE, generator=g(2))\n"
             "fig = plotting.image_rows(rows, title='Samples: unconditional, then classes 0-9 with CFG', col_titles=[str(d) for d in range(10)])\n"
             "plotting.savefig(fig, 'hot_05_cfg', PROFILE); plt.show()"),
        md("How often does a sample read as its class? A model-free judge: the label of its nearest neighbour "
           "among MNIST's 60,000 training digits (1-NN, pixel space; 96% accurate on real test digits). "
           "gamma = 0 is the unconditional model (chance is 10%)."),
        code("# NBVAL_CHECK_OUTPUT\ntrain = data.load_dataset('mnist', 'train', 32)\nref = train.all()\n"
             "want = torch.arange(10).repeat(N_FIDELITY // 10)\nfidelity = {}\n"
             "for gm in [0.0] + GAMMAS:\n"
             "    x = hot.sample(model, sched, len(want), want, gamma=gm, stride=STRIDE, generator=g(11))\n"
             "    fidelity[gm] = (metrics.nearest_neighbour_labels(x, ref, train.labels) == want).float().mean().item()\n"
             "print(f'samples labelled as their class by 1-NN (N={len(want)} per gamma):')\n"
             "for gm, acc in fidelity.items():\n    print(f'  gamma={gm}: {acc:.0%}')"),
        md("## 6. Image-to-image translation (SDEdit)\n\nNoise a picture to level t, then denoise: small t keeps "
           "it, large t replaces it by a plausible digit. On test digits and on a hand-drawn digit rasterised from strokes."),
        code("drawn = hot.rasterize_strokes([[(0.3, 0.25), (0.55, 0.2), (0.7, 0.35), (0.6, 0.5), (0.4, 0.55)], [(0.6, 0.5), (0.72, 0.68), (0.55, 0.82), (0.3, 0.78)]])\n"
             "levels = [100, 300, 500, 700, 900]\nsrc = torch.cat([x0[:2], drawn])\n"
             "rows = {'input': src, **{f't={t}': hot.sdedit(model, sched, src, t, None, stride=STRIDE, generator=g(3)) for t in levels}}\n"
             "fig = plotting.image_rows(rows, title='SDEdit (unconditional); last column: a hand-drawn 3')\n"
             "plotting.savefig(fig, 'hot_06_sdedit', PROFILE); plt.show()"),
        md("## 7. Inpainting\n\nAfter every step, x_t ← m·x_t + (1 − m)·forward(x_orig, t): the model only "
           "invents the masked region (m = 1)."),
        code("mask = torch.zeros(32, 32); mask[4:16, :] = 1      # regenerate the top of each digit\n"
             "rows = {'original': x0, 'masked': x0 * (1 - mask) - mask, 'inpainted': hot.inpaint(model, sched, x0, mask, None, stride=STRIDE, generator=g(4)),\n"
             "        'inpainted as 8': hot.inpaint(model, sched, x0, mask, 8, gamma=3.0, stride=STRIDE, generator=g(4))}\n"
             "fig = plotting.image_rows(rows, title='Inpainting the top half'); plotting.savefig(fig, 'hot_07_inpainting', PROFILE); plt.show()"),
        md("## 8. Class-conditional image-to-image (the \"text-conditional\" edit)\n\nSDEdit guided towards a class."),
        code("rows = {'input': x0}\nfor t in (300, 500, 700):\n    rows[f'-> 3, t={t}'] = hot.sdedit(model, sched, x0, t, 3, gamma=3.0, stride=STRIDE, generator=g(5))\n"
             "fig = plotting.image_rows(rows, title='Edits towards class 3'); plotting.savefig(fig, 'hot_08_class_edit', PROFILE); plt.show()"),
        md("## 9. Visual anagrams\n\neps = (eps(x_t, c1) + flip(eps(flip(x_t), c2))) / 2: one image that reads as c1 "
           "upright and as c2 upside down (6 and 9 are the natural pair)."),
        code("x = torch.randn((6, 1, 32, 32), generator=g(6))\n"
             "ana = hot.denoise(lambda x, t: hot.anagram_eps(model, x, t, 6, 9, gamma=3.0), sched, x, hot.strided_timesteps(999, STRIDE), g(7))\n"
             "fig = plotting.image_rows({'upright (6)': ana, 'upside down (9)': hot.flip(ana)}, title='Visual anagrams 6 / 9')\n"
             "plotting.savefig(fig, 'hot_09_anagrams', PROFILE); plt.show()"),
        md("## 10. Hybrid images (factorised diffusion)\n\neps = lowpass(eps(c1)) + highpass(eps(c2)), a Gaussian "
           "low-pass and its complement as the (Laplacian) high-pass: c1 from afar, c2 close up. The cut-off "
           "sigma sets the balance. Handwritten digits carry most of their identity in low frequencies, so at "
           "32 x 32 pixels the effect is subtler than with photographs: with a small sigma the low class "
           "wins outright (sigma 1.5: plain 1s), with a large one the high class does. Around sigma 2.5 "
           "(1 from afar, 7 close up) the close-up shows a 7's bar that the blurred view washes out, leaving "
           "mostly the upright stroke of a 1."),
        code("hyb_rows = {}\nfor sigma in HYBRID_SIGMAS:\n    x = torch.randn((6, 1, 32, 32), generator=g(8))\n"
             "    hyb = hot.denoise(lambda x, t: hot.hybrid_eps(model, x, t, HYBRID[0], HYBRID[1], gamma=3.0, sigma=sigma), "
             "sched, x, hot.strided_timesteps(999, STRIDE), g(9))\n"
             "    hyb_rows[f'sigma={sigma}: close up'] = hyb\n    hyb_rows[f'sigma={sigma}: from afar'] = hot.lowpass(hyb, sigma)\n"
             "fig = plotting.image_rows(hyb_rows, title=f'Hybrid images: {HYBRID[0]} from afar (low-pass), {HYBRID[1]} close up (high-pass)')\n"
             "plotting.savefig(fig, 'hot_10_hybrid', PROFILE); plt.show()"),
        md("## 11. The cold counterparts\n\nCold diffusion needs no noise: *SDEdit-style editing* degrades a "
           "picture to level t with the deterministic operator and restores it with Algorithm 2 "
           "with a deblurring model; *inpainting* uses a Gaussian-mask model. Both are the `workshop` variants "
           "(`tag='workshop'`: width 32, 1000 steps of 64, about 9 minutes each on 2 CPU cores, committed), "
           "closer in effort to the epsilon model than the tiny models of Tables 1 and 2. "
           "Hot editing replaces the digit by another plausible one as t grows; cold editing with blur has "
           "to invent the digit back from a blob, and with masks it only fills the hole."),
        code("cold = {}\nfor task in ('deblur', 'inpaint'):\n    c = config.get_config(PROFILE, task=task, dataset='mnist', tag='workshop')\n"
             "    R, _ = training.train_or_load(c)\n    D = training.make_degradation(c, 1)\n"
             "    st = D.sample_state(len(src), g(10))\n    cold[task] = (R, D, st)\n"
             "rows = {'input': src}\nR, D, st = cold['deblur']\n"
             "for t in (4, 10, 20):\n    rows[f'cold blur t={t}'] = sampling.algorithm2(lambda x, s: R(x, s), D, D(src, t, st), st, t_start=t)\n"
             "for t in (300, 700):\n    rows[f'hot SDEdit t={t}'] = hot.sdedit(model, sched, src, t, None, stride=STRIDE, generator=g(3))\n"
             "R, D, st = cold['inpaint']\nrows['cold mask t=T'] = D(src, D.T, st)\nrows['cold inpainted'] = sampling.algorithm2(lambda x, s: R(x, s), D, D(src, D.T, st), st)\n"
             "fig = plotting.image_rows(rows, title='Cold (blur, mask) beside hot editing')\nplotting.savefig(fig, 'hot_11_cold_counterparts', PROFILE); plt.show()"),
    ]
    return nbs


# Claims that held on the committed smoke run (see each notebook's last cell)
EXPECT = {"deblur": [], "inpaint": [], "superres": [], "snow": [], "decolor": []}


def main(only=()):
    """Write every notebook's source, or only those named (e.g. ``09_hot_diffusion_workshop``)."""
    for name, cells in notebooks().items():
        if only and name not in only:
            continue
        nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNEL,
                                                        "language_info": {"name": "python"}})
        path = HERE / f"{name}.ipynb"
        nbf.write(nb, path)
        print("wrote", path)


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
