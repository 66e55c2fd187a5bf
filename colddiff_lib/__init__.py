"""colddiff: the reproducible companion to "Cold Diffusion" (Bansal et al., 2022).

Modules, one concept each:

* ``config``        frozen configs: the profiles smoke / cpu / paper, overrides, validation, the
                    hash (a leaf: tasks and data register the names it checks);
* ``plans``         what each notebook runs per profile (datasets, notebook 07's generators);
* ``tasks``         the list of tasks; per task its data, degradation D (published schedule),
                    objective and network;
* ``data``          datasets (MNIST, Fashion-MNIST, CIFAR-10, CelebA, AFHQ, labelled stand-ins);
* ``degradations``  the operators D(x0, t) (blur, masks, super-resolution, snow, decolorisation, mixing);
* ``unet``          the restoration network R (the paper's U-Net);
* ``objectives``    the training losses (the paper's l1; the workshop's epsilon loss);
* ``training``      the training loop, EMA, atomic checkpoints, exact resume;
* ``sampling``      the samplers: direct, Algorithm 1, Algorithm 2, estimated noise;
* ``metrics``       FID / KID / SSIM / RMSE;
* ``experiments``   running the paper's evaluations; ``reporting`` tables, paper values, claims;
* ``plotting``      figures (one ``savefig``);
* ``ddpm``          the workshop's DDPM (Gaussian-noise diffusion with an epsilon model), not the
                    paper's "hot" task, which is the cold ``Mixing`` degradation;
* ``pretrained``, ``restore``  named models and restoring your own images;
* ``precision``     what the machine runs natively (bf16 or not), the fp32/bf16 policy, autocast;
* ``env``           the environment variables read at the edges (CLI, make, notebooks);
* ``common``, ``io``, ``paths``  small shared helpers, atomic writes, default folders.
"""
import os as _os

# Two torch processes on the same cores (a training run in the background while a notebook or a
# table runs) wait for their OpenMP threads by spinning under libgomp's default ACTIVE policy, and
# so starve each other; PASSIVE threads sleep instead, which costs one process alone nothing
# measurable (make bench, "threads").  libgomp reads the variable when torch is first imported, so
# this holds wherever colddiff_lib is imported first (the CLI, make, the notebooks); an
# OMP_WAIT_POLICY set by the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# config is a leaf: the names its fields may take and the schedule revision in its hash come from
# tasks (and through it data and degradations), which register them when imported.
from . import tasks as _tasks  # noqa: E402,F401
