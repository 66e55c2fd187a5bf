"""colddiff: the reproducible companion to "Cold Diffusion" (Bansal et al., 2022).

Modules, one concept each:
``config`` (profiles), ``data`` (datasets), ``degradations`` (D), ``unet`` (R),
``training`` (l1 training, EMA, checkpoints), ``sampling`` (direct, Algorithms 1 and 2),
``metrics`` (FID/KID/SSIM/RMSE), ``experiments`` (tables), ``plotting`` (figures), ``hot``
(the hot-diffusion workshop).
"""
__version__ = "0.1.0"
