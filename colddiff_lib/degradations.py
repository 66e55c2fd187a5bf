"""Degradations D(x0, t) of the paper, sharing one small interface.

Every degradation:

* works on a batch ``x0`` of shape (N, C, H, W) in [-1, 1] with an integer ``t`` per sample in
  0..T (an int broadcasts); ``t = 0`` is the identity;
* knows its ``T``, ``channels`` and ``image_size`` and rejects anything else with one clear error;
* may be *stochastic*: a per-image random ``state`` (mask centres, snow layers, the mixing image z)
  drawn once by :meth:`Degradation.sample_state` and passed to every call, so that a sampler
  evaluates D(x0_hat, s) and D(x0_hat, s-1) with the same randomness as x_s;
* provides what generation needs from the fully degraded state: :meth:`fit_prior` on training
  images and :meth:`prior`, which draws x_T (and its state).

The published schedule of each (task, dataset) pair is in :mod:`colddiff_lib.tasks`
(``build_degradation``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# The largest T accepted: the paper's largest is 1000 (hot diffusion), and D precomputes a schedule
# entry (a kernel, a mask width, a noise level) for every level, so T = 3,000,000 would need tens of GB.
MAX_T = 10_000


def check_T(T, name: str = "degradation") -> int:
    if isinstance(T, bool) or not isinstance(T, (int,)) and not (isinstance(T, float) and T.is_integer()):
        raise DegradationError(f"{name}: T must be an integer in 1..{MAX_T}, got {T!r}")
    if not 1 <= int(T) <= MAX_T:
        raise DegradationError(f"{name}: T must be in 1..{MAX_T} (the paper's largest is 1000), got {T}")
    return int(T)


class DegradationError(ValueError):
    pass


class Degradation:
    """Base class: validation, broadcasting of t, and the state/prior protocol."""
    name = "degradation"
    stochastic = False        # needs a per-image random state

    def __init__(self, T: int, channels: int, image_size: int):
        check_T(T, self.name)
        self.T, self.channels, self.image_size = int(T), int(channels), int(image_size)

    # --- public -----------------------------------------------------------------------------
    def __call__(self, x0: torch.Tensor, t, state=None) -> torch.Tensor:
        """x_t = D(x0, t)."""
        x0 = self.check_images(x0)
        t = self.check_t(t, x0.shape[0], x0.device)
        if self.stochastic and state is None:
            raise DegradationError(f"{self.name} is random per image: pass state=deg.sample_state(n, generator)")
        return self.apply(x0, t, state)

    def sample_state(self, n: int, generator: torch.Generator | None = None, device=None):
        """Per-image randomness (None for deterministic degradations)."""
        return None

    def fit_prior(self, x_train: torch.Tensor) -> None:
        """Fit whatever generation from the fully degraded state needs (default: nothing)."""

    def prior(self, n: int, generator: torch.Generator | None = None, device=None, **kw):
        """Draw (x_T, state) for generation."""
        raise DegradationError(f"{self.name} has no generation prior; use a generation task "
                               "(blurgen, inpaintgen, superresgen, hot, animorph)")

    # --- to implement -----------------------------------------------------------------------
    def apply(self, x0: torch.Tensor, t: torch.Tensor, state) -> torch.Tensor:
        raise NotImplementedError

    # --- validation -------------------------------------------------------------------------
    def check_images(self, x: torch.Tensor) -> torch.Tensor:
        want = (self.channels, self.image_size, self.image_size)
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != want:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise DegradationError(
                f"{self.name} expects images of shape (N, {want[0]}, {want[1]}, {want[2]}), got {got}; "
                f"resize/convert the images or build the degradation with channels=..., image_size=...")
        if not x.is_floating_point():
            raise DegradationError(f"{self.name} expects float images in [-1, 1], got dtype {x.dtype}; "
                                   "convert 8-bit images with x.float() / 127.5 - 1")
        if x.shape[0] == 0:
            raise DegradationError(f"{self.name} got an empty batch (0 images); pass at least one image")
        if not bool(torch.isfinite(x).all()):
            raise DegradationError(f"{self.name} got images with NaN or infinite pixels; clean the input "
                                   "(e.g. torch.nan_to_num) before degrading it")
        return x

    def check_t(self, t, n: int, device) -> torch.Tensor:
        if isinstance(t, bool) or (torch.is_tensor(t) and t.dtype == torch.bool):
            raise DegradationError(f"t must be an integer in 0..{self.T}, got the boolean {t!r}")
        if not (torch.is_tensor(t) or isinstance(t, (int, float, list, tuple)) or hasattr(t, "__array__")):
            raise DegradationError(f"t must be an integer in 0..{self.T} (or one per image), got {t!r} "
                                   f"({type(t).__name__}); e.g. D(x, {self.T})")
        try:
            t = torch.as_tensor(t, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise DegradationError(f"t must be an integer in 0..{self.T} (or one per image), got {t!r}") from None
        if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
            raise DegradationError(f"t must be an integer in 0..{self.T}, got a {t.dtype} tensor")
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise DegradationError(f"t must be an integer in 0..{self.T}, got {t.tolist()}")
        t = t.long()
        if t.dim() == 0:
            t = t.expand(n)
        if t.shape != (n,):
            raise DegradationError(f"t must be an int or have one entry per image ({n}), got shape {tuple(t.shape)}")
        if n and (int(t.min()) < 0 or int(t.max()) > self.T):
            raise DegradationError(f"t out of range: must be in 0..{self.T} for {self.name}, "
                                   f"got {int(t.min())}..{int(t.max())}")
        return t

    def __repr__(self):
        return f"{type(self).__name__}(T={self.T}, channels={self.channels}, image_size={self.image_size})"


def per_image(v: torch.Tensor) -> torch.Tensor:
    """A per-image vector (N,) shaped (N, 1, 1, 1), to broadcast over an image batch."""
    return v.view(-1, 1, 1, 1)


# ============================================================================================
# Gaussian blur
# ============================================================================================
def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel (size x size), float64."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


class Blur(Degradation):
    """t successive Gaussian blurs: D(x0, t) = k_t * ... * k_1 * x0 (padded 2-D convolutions).

    Computed in the Fourier domain, so the cost does not depend on t:

    * circular padding: convolution is diagonalised by the 2-D DFT of period N;
    * reflect padding with a symmetric kernel: equals circular convolution of the mirror-extended
      image [x_0 .. x_{N-1}, x_{N-2} .. x_1] (period 2N-2), cropped back to N.

    The cumulative transfer functions prod_{i<=t} H_i are computed once (float64, then stored as
    complex64).  ``final_mean`` (blur generation) replaces the last step by the per-channel mean;
    ``quantize`` rounds x_t to 8-bit levels (the network sees 8-bit inputs).
    """
    name = "blur"

    def __init__(self, T, channels, image_size, kernel_size: int, sigmas, padding: str = "circular",
                 final_mean: bool = False, quantize: bool = False):
        super().__init__(T, channels, image_size)
        sigmas = [float(s) for s in sigmas]
        if len(sigmas) != self.T:
            raise DegradationError(f"blur: need T={self.T} sigmas, got {len(sigmas)}")
        if padding not in ("circular", "reflect"):
            raise DegradationError(f"blur padding must be 'circular' or 'reflect', got {padding!r}")
        if padding == "reflect" and kernel_size // 2 >= image_size:
            raise DegradationError(f"reflect padding needs kernel_size//2 < image_size ({kernel_size}, {image_size})")
        self.kernel_size, self.sigmas, self.padding = int(kernel_size), sigmas, padding
        self.final_mean, self.quantize = final_mean, quantize
        self.period = image_size if padding == "circular" else 2 * image_size - 2
        self._H = self._cumulative_transfer()
        self._H_on = {}
        self._gmm = None

    def kernels(self) -> list[torch.Tensor]:
        return [gaussian_kernel(self.kernel_size, s) for s in self.sigmas]

    def _cumulative_transfer(self) -> torch.Tensor:
        P, k = self.period, self.kernel_size
        idx = (torch.arange(k) - k // 2) % P
        H = [torch.ones(P, P // 2 + 1, dtype=torch.complex128)]
        for ker in self.kernels():
            h = torch.zeros(P, P, dtype=torch.float64)
            h.index_put_((idx[:, None].expand(k, k), idx[None, :].expand(k, k)), ker, accumulate=True)
            # conv2d is a correlation: multiply by the conjugate transfer function
            H.append(H[-1] * torch.fft.rfft2(h).conj())
        return torch.stack(H).to(torch.complex64)

    def _transfer(self, device) -> torch.Tensor:
        key = str(device)
        if key not in self._H_on:
            self._H_on[key] = self._H.to(device)
        return self._H_on[key]

    def _mirror(self, x):
        n = self.image_size
        x = torch.cat([x, x[..., :, 1:n - 1].flip(-1)], dim=-1)
        return torch.cat([x, x[..., 1:n - 1, :].flip(-2)], dim=-2)

    def apply(self, x0, t, state=None):
        n = self.image_size
        xe = x0 if self.padding == "circular" else self._mirror(x0)
        X = torch.fft.rfft2(xe.float())
        H = self._transfer(x0.device)[t][:, None]                  # (N, 1, P, P//2+1)
        x = torch.fft.irfft2(X * H, s=xe.shape[-2:])[..., :n, :n]
        if self.final_mean:
            full = (t == self.T)
            if bool(full.any()):
                mean = x0.mean(dim=(2, 3), keepdim=True).expand_as(x)
                x = torch.where(per_image(full), mean, x)
        if self.quantize:
            x = quantize8(x)
        return torch.where(per_image(t == 0), x0, x).to(x0.dtype)

    def literal(self, x0: torch.Tensor, t: int) -> torch.Tensor:
        """The authors' way, for benchmarks: t successive padded depthwise convolutions."""
        x, c, k = x0, x0.shape[1], self.kernel_size
        for ker in self.kernels()[:t]:
            w = ker.to(x0.dtype).to(x0.device)[None, None].repeat(c, 1, 1, 1)
            x = F.conv2d(F.pad(x, [k // 2] * 4, mode=self.padding), w, groups=c)
        return x

    # --- generation: GMM over the per-channel means of fully blurred training images ---------
    def fit_prior(self, x_train, n_components: int = 1, seed: int = 0):
        from sklearn.mixture import GaussianMixture
        xT = self(x_train, self.T)
        feats = xT.mean(dim=(2, 3)).double().cpu().numpy()
        self._gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed).fit(feats)

    def prior(self, n, generator=None, device=None, noise_std: float = 0.002, **kw):
        """x_T: a per-channel mean drawn from the fitted GMM, broadcast to the image.
        ``noise_std`` > 0 adds Gaussian noise that breaks the symmetry; 0 is "perfect symmetry"."""
        if not self.final_mean:
            return super().prior(n, generator, device)
        means = _gmm_sample(self._gmm, n, generator, "blur prior: call fit_prior(x_train) first")
        x = means.float().view(n, self.channels, 1, 1).expand(n, self.channels, self.image_size, self.image_size)
        x = x.contiguous()
        if noise_std:
            x = x + noise_std * torch.randn(x.shape, generator=generator)
        return x.to(device or "cpu"), None


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Round [-1, 1] images to the 256 levels of 8-bit images."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def _gmm_sample(gmm, n, generator, missing_msg) -> torch.Tensor:
    if gmm is None:
        raise DegradationError(missing_msg)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    comp = torch.multinomial(torch.as_tensor(gmm.weights_), n, replacement=True, generator=g)
    mu = torch.as_tensor(gmm.means_)[comp]
    chol = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_))[comp]
    z = torch.randn(n, mu.shape[1], generator=g, dtype=torch.float64)
    return mu + (chol @ z[..., None])[..., 0]


# ============================================================================================
# Inpainting with Gaussian masks
# ============================================================================================
class GaussianMask(Degradation):
    """D(x0, t) = x0 * prod_{i<=t} z_i  (+ (1 - prod z_i) * colour when ``fill='colour'``).

    z_i = 1 - G_i / max G_i, with G_i a 2-D Gaussian centred on the mask centre whose width
    beta_i = kernel_std * (i - 1 + initial) is passed as the standard deviation in pixels, exactly
    as the official code hands it to ``get_gaussian_kernel2d`` (the paper's text calls beta a
    variance).  Centres are random per image (seeded through the state) or the image centre.
    """
    name = "inpaint"

    def __init__(self, T, channels, image_size, kernel_std: float, initial: float, random_centre: bool,
                 fill: str = "zero"):
        super().__init__(T, channels, image_size)
        if fill not in ("zero", "colour"):
            raise DegradationError(f"mask fill must be 'zero' or 'colour', got {fill!r}")
        self.kernel_std, self.initial, self.random_centre, self.fill = kernel_std, initial, random_centre, fill
        self.stochastic = random_centre or fill == "colour"
        # cumulative masks on a grid of twice the size, centred at (image_size, image_size);
        # a centre (cy, cx) takes the window starting at (image_size - cy, image_size - cx)
        S = 2 * image_size if random_centre else image_size
        c = image_size if random_centre else image_size // 2
        r = torch.arange(S, dtype=torch.float64) - c
        d2 = r[:, None] ** 2 + r[None, :] ** 2
        M = [torch.ones(S, S, dtype=torch.float64)]
        for i in range(self.T):
            std = kernel_std * (i + initial)
            M.append(M[-1] * (1 - torch.exp(-d2 / (2 * std ** 2))))
        self._M = torch.stack(M).float()                        # (T+1, S, S)
        self._M_on = {}

    def betas(self):
        return [self.kernel_std * (i + self.initial) for i in range(self.T)]

    def sample_state(self, n, generator=None, device=None):
        state = {}
        if self.random_centre:
            state["centre"] = torch.randint(0, self.image_size, (n, 2), generator=generator)
        if self.fill == "colour":
            state["colour"] = torch.rand(n, self.channels, 1, 1, generator=generator) - 0.5
        return {k: v.to(device or "cpu") for k, v in state.items()} if state else None

    def mask(self, t: torch.Tensor, state=None) -> torch.Tensor:
        """The cumulative mask prod_{i<=t} z_i, shape (N, 1, H, W)."""
        key = str(t.device)
        if key not in self._M_on:
            self._M_on[key] = self._M.to(t.device)
        M = self._M_on[key][t]                                   # (N, S, S)
        if self.random_centre:
            n, s = self.image_size, t.shape[0]
            off = n - state["centre"].to(t.device)               # (N, 2)
            ar = torch.arange(n, device=t.device)
            rows = (off[:, 0, None] + ar)[:, :, None].expand(s, n, 2 * n)
            M = torch.gather(M, 1, rows)
            cols = (off[:, 1, None] + ar)[:, None, :].expand(s, n, n)
            M = torch.gather(M, 2, cols)
        return M[:, None]

    def apply(self, x0, t, state=None):
        m = self.mask(t, state).to(x0.dtype)
        x = x0 * m
        if self.fill == "colour":
            x = x + (1 - m) * state["colour"].to(x0)
        return x

    def prior(self, n, generator=None, device=None, **kw):
        """x_T for generation: a random solid colour, U(-0.5, 0.5) per channel."""
        if self.fill != "colour":
            raise DegradationError("inpainting generation needs fill='colour' (task 'inpaintgen')")
        state = self.sample_state(n, generator, device)
        x = state["colour"].expand(n, self.channels, self.image_size, self.image_size).contiguous()
        return x, state


# ============================================================================================
# Super-resolution
# ============================================================================================
SUPERRES_CASCADES = ("halve", "official")


class SuperResolution(Degradation):
    """Each step halves the resolution (bicubic, no antialias); x_t is then brought back to full
    size with nearest-exact upsampling.  T = log2(image_size / smallest size).

    ``cascade`` says what each step halves:

    * ``"halve"`` (default; every shipped model): the small image of the step before, so x_t is
      x0 halved t times, then brought up once;
    * ``"official"``: the official code's ``Incremental_factor_2`` routine: step s takes the
      full-size x_{s-1}, brings it down to image_size / 2^s and back up, so each step starts from the
      blocky image of the one before.  Its x_T matches the paper's Degraded SSIM and RMSE more
      closely (``results/cpu/ablations/degraded_columns_mnist.md``).
    """
    name = "superres"

    def __init__(self, T, channels, image_size, cascade: str = "halve"):
        super().__init__(T, channels, image_size)
        if image_size % (2 ** self.T):
            raise DegradationError(f"superres: image_size {image_size} is not divisible by 2**T = {2 ** self.T}")
        if cascade not in SUPERRES_CASCADES:
            raise DegradationError(f"unknown superres cascade {cascade!r}; valid: {', '.join(SUPERRES_CASCADES)}")
        self.cascade = cascade
        self._gmm = None

    def _down(self, x, s: int):
        """x (full size, or half the size of step s - 1 when halving) brought to image_size / 2^s."""
        size = self.image_size // 2 ** s
        return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=False)

    def _up(self, x):
        return F.interpolate(x, size=(self.image_size,) * 2, mode="nearest-exact")

    def _smalls(self, x0, t_max: int):
        """The small image of each step s = 1..t_max: halve keeps halving it, official takes the
        full-size x_{s-1} down again."""
        x = x0
        for s in range(1, t_max + 1):
            small = self._down(x, s)
            x = small if self.cascade == "halve" else self._up(small)
            yield s, small

    def lowres(self, x0, t: int) -> torch.Tensor:
        """The small image of step t (image_size / 2^t pixels a side)."""
        out = x0
        for _, out in self._smalls(x0, t):
            pass
        return out

    def apply(self, x0, t, state=None):
        out = x0.clone()
        for s, small in self._smalls(x0, int(t.max())):
            sel = t == s
            if bool(sel.any()):
                out[sel] = self._up(small[sel])
        return out

    def fit_prior(self, x_train, n_components: int = 1, seed: int = 0):
        """Fit a Gaussian to the smallest (fully degraded) images of the training set."""
        from sklearn.mixture import GaussianMixture
        low = self.lowres(x_train, self.T).flatten(1).double().cpu().numpy()
        self._gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed,
                                    reg_covar=1e-4).fit(low)

    def prior(self, n, generator=None, device=None, **kw):
        """x_T: a random low-resolution image (2x2 for generation), upsampled to full size."""
        s = self.image_size // 2 ** self.T
        low = _gmm_sample(self._gmm, n, generator, "superres prior: call fit_prior(x_train) first")
        low = low.float().view(n, self.channels, s, s).clamp(-1, 1)
        x = F.interpolate(low, size=(self.image_size,) * 2, mode="nearest-exact")
        return x.to(device or "cpu"), None


# ============================================================================================
# Snow (ImageNet-C style, in torch)
# ============================================================================================
class Snow(Degradation):
    """ImageNet-C-style snow whose severity grows linearly with t (t = 0 is the identity).

    Per image (the state): a snow layer drawn from N(loc, scale) at 1/zoom resolution and a motion
    angle in [-135, -45] degrees.  At step t (fraction f = t / T): the layer is zoomed to full size,
    values below the threshold 1.15 -> ``threshold_T`` are zeroed, it is motion-blurred along the
    angle (kernel ``blur_size``, sigma 0.05 -> ``sigma_T``), and added twice (as is and rotated
    180 degrees) to the image in [0, 1], which is then clipped.
    """
    name = "snow"
    stochastic = True

    def __init__(self, T, channels, image_size, threshold_T=0.7, sigma_T=16.0, loc=0.55, scale=0.3,
                 zoom=2.5, blur_size=11, threshold_0=1.15, sigma_0=0.05):
        super().__init__(T, channels, image_size)
        self.threshold = (threshold_0, threshold_T)
        self.sigma = (sigma_0, sigma_T)
        self.loc, self.scale, self.zoom, self.blur_size = loc, scale, zoom, blur_size
        self.small = max(2, int(math.ceil(image_size / zoom)))

    def sample_state(self, n, generator=None, device=None):
        layer = self.loc + self.scale * torch.randn(n, 1, self.small, self.small, generator=generator)
        angle = -135 + 90 * torch.rand(n, generator=generator)
        return {"layer": layer.to(device or "cpu"), "angle": angle.to(device or "cpu")}

    def motion_kernels(self, sigma: float, angle_deg: torch.Tensor) -> torch.Tensor:
        """One-sided Gaussian motion-blur kernels (N, 1, k, k) along each image's angle."""
        k = self.blur_size
        j = torch.arange(k // 2 + 1, dtype=torch.float32, device=angle_deg.device)
        w = torch.exp(-j ** 2 / (2 * sigma ** 2))
        th = torch.deg2rad(angle_deg)[:, None]
        ys = (k // 2 - j[None] * torch.sin(th)).round().long().clamp(0, k - 1)
        xs = (k // 2 + j[None] * torch.cos(th)).round().long().clamp(0, k - 1)
        ker = torch.zeros(angle_deg.shape[0], k * k, device=angle_deg.device)
        ker.scatter_add_(1, ys * k + xs, w.expand_as(ys).contiguous())
        ker = ker / ker.sum(1, keepdim=True)
        return ker.view(-1, 1, k, k)

    def snow_layer(self, t: torch.Tensor, state) -> torch.Tensor:
        n = t.shape[0]
        f = (t.float() / self.T).view(-1, 1, 1, 1)
        thr = self.threshold[0] + (self.threshold[1] - self.threshold[0]) * f
        layer = F.interpolate(state["layer"].to(t.device), size=(self.image_size,) * 2, mode="bilinear",
                              align_corners=False)
        layer = torch.where(layer < thr, torch.zeros_like(layer), layer).clamp(0, 1)
        out = torch.empty_like(layer)
        for s in t.unique().tolist():
            sel = t == s
            sigma = self.sigma[0] + (self.sigma[1] - self.sigma[0]) * s / self.T
            ker = self.motion_kernels(sigma, state["angle"].to(t.device)[sel])
            p = self.blur_size // 2
            lay = F.pad(layer[sel].transpose(0, 1), [p] * 4, mode="constant")
            out[sel] = F.conv2d(lay, ker, groups=int(sel.sum())).transpose(0, 1)
        return out + out.flip(-1, -2)

    def apply(self, x0, t, state):
        x01 = (x0 + 1) / 2
        x = (x01 + self.snow_layer(t, state)).clamp(0, 1) * 2 - 1
        return torch.where(per_image(t == 0), x0, x.to(x0.dtype))


# ============================================================================================
# Decolorisation
# ============================================================================================
class Decolorization(Degradation):
    """Linear desaturation: x_t = (1 - t/T) x0 + (t/T) grey(x0); fully grey at T."""
    name = "decolor"
    LUMA = (0.299, 0.587, 0.114)

    def __init__(self, T, channels, image_size):
        if channels != 3:
            raise DegradationError("decolorisation needs colour images (channels=3)")
        super().__init__(T, channels, image_size)

    def apply(self, x0, t, state=None):
        w = torch.tensor(self.LUMA, dtype=x0.dtype, device=x0.device).view(1, 3, 1, 1)
        grey = (x0 * w).sum(1, keepdim=True).expand_as(x0)
        f = per_image(t.to(x0.dtype) / self.T)
        return (1 - f) * x0 + f * grey


# ============================================================================================
# Mixing: animorphosis and hot (Gaussian-noise) diffusion
# ============================================================================================
def cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    """abar_t for t = 0..T (Nichol & Dhariwal): abar_0 = 1, abar_T = 0."""
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = (f / f[0]).clamp(0, 1)
    ab[-1] = 0.0
    return ab


class Mixing(Degradation):
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) z with a cosine abar.

    z is Gaussian noise for hot diffusion (``source=None``) or an image drawn from ``source`` (a
    tensor of images in [-1, 1]) for animorphosis.  z is the per-image state."""
    name = "mixing"
    stochastic = True

    def __init__(self, T, channels, image_size, source: torch.Tensor | None = None, source_name: str = "noise"):
        super().__init__(T, channels, image_size)
        self.abar = cosine_alpha_bar(self.T)
        if source is not None:
            self.check_images(source)
        self.source, self.source_name = source, source_name
        self.name = "hot" if source is None else "animorph"

    def sample_state(self, n, generator=None, device=None):
        if self.source is None:
            z = torch.randn(n, self.channels, self.image_size, self.image_size, generator=generator)
        else:
            z = self.source[torch.randint(0, self.source.shape[0], (n,), generator=generator)]
        return z.to(device or "cpu")

    def coefs(self, t, like):
        ab = self.abar.to(like.device)[t].to(like.dtype)
        return per_image(ab.sqrt()), per_image((1 - ab).sqrt())

    def apply(self, x0, t, z):
        a, b = self.coefs(t, x0)
        return a * x0 + b * z.to(x0)

    def estimate_state(self, x_s, x0_hat, s):
        """z_hat = (x_s - sqrt(abar_s) x0_hat) / sqrt(1 - abar_s)  (DDIM-style, s >= 1)."""
        t = self.check_t(s, x_s.shape[0], x_s.device)
        a, b = self.coefs(t, x_s)
        return (x_s - a * x0_hat) / b.clamp_min(1e-8)

    def prior(self, n, generator=None, device=None, **kw):
        z = self.sample_state(n, generator, device)
        return z.clone(), z


# ============================================================================================
# The linear toy of Section 3
# ============================================================================================
class LinearShift(Degradation):
    """D(x, s) = x + s * e: the linear toy for which Algorithm 2 is exact for any R."""
    name = "linear"

    def __init__(self, T, channels, image_size, e: torch.Tensor | None = None, seed: int = 0):
        super().__init__(T, channels, image_size)
        if e is None:
            e = torch.randn(channels, image_size, image_size, generator=torch.Generator().manual_seed(seed)) / T
        self.e = e

    def apply(self, x0, t, state=None):
        return x0 + per_image(t.to(x0.dtype)) * self.e.to(x0)
