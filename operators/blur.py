"""Blur (convolution) operators: circular with an exact FFT SVD, or reflect-padded.

Convention: PyTorch/DPS correlation ``y[n] = Σ_j k[j]·x[n + j − c]`` with centre
``c = size // 2`` (DPS's ``Blurkernel`` is a ``Conv2d`` with reflect padding,
Chung et al. 2023; DDRM's deblurring uses the SVD, Kawar et al. 2022).

``boundary="circular"`` (default): A is diagonal in the orthonormal 2-D FFT.
``Vt = fft2(·, norm="ortho")`` (complex spectral layout, shape of x),
``singulars = |K|`` with K the FFT of the wrapped kernel, and ``U`` absorbs the
phase ``K/|K|``.  Since the kernel is real, |K| and the phase respect the
Hermitian symmetry of real images, so ``V``/``U`` return real tensors.
``boundary="reflect"``: exact explicit adjoint (FFT correlation on the padded
grid, folded back through the reflection), no SVD; solves use conjugate gradients.

Kernels: (kh, kw) shared, (B, kh, kw) per sample, or (B or 1, C or 1, kh, kw).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import LinearOperator, SVDOperator, param
from .kernels import gaussian_kernel, motion_kernel, uniform_kernel
from .noise import sample_seed

__all__ = ["Blur", "CircularBlur", "ReflectBlur", "GaussianBlur", "UniformBlur", "MotionBlur"]


def _as4d(kernel: Tensor, C: int) -> Tensor:
    k = torch.as_tensor(kernel)
    k = k[None, None] if k.ndim == 2 else k[:, None] if k.ndim == 3 else k
    if k.ndim != 4 or k.shape[1] not in (1, C):
        raise ValueError(f"kernel must be (kh, kw), (B, kh, kw) or (B, 1 or {C}, kh, kw), got {tuple(kernel.shape)}")
    return k


class _BlurBase:
    def _setup(self, kernel, input_shape, dtype):
        if len(input_shape) != 3:
            raise ValueError(f"blur needs an image input_shape (C, H, W), got {tuple(input_shape)}")
        k = _as4d(kernel, input_shape[0])
        dtype = dtype or (k.dtype if k.is_floating_point() else torch.float64)
        self.kernel = k.to(dtype=dtype)
        return k.shape[0]


class CircularBlur(_BlurBase, SVDOperator):
    """Circular convolution, exact SVD through the orthonormal 2-D FFT."""

    def __init__(self, kernel: Tensor, input_shape, dtype=None):
        SVDOperator.__init__(self, input_shape, self._setup(kernel, input_shape, dtype))
        C, H, W = self.input_shape
        k = self.kernel
        kh, kw = k.shape[-2:]
        # wrap the flipped kernel so that the circular convolution with it is our correlation
        rows, cols = (kh // 2 - torch.arange(kh)) % H, (kw // 2 - torch.arange(kw)) % W
        pad = torch.zeros(*k.shape[:2], H, kw, dtype=k.dtype).index_add_(2, rows, k)
        pad = torch.zeros(*k.shape[:2], H, W, dtype=k.dtype).index_add_(3, cols, pad)
        K = torch.fft.fft2(pad).expand(-1, C, -1, -1)
        self.spectrum = K
        self._s = K.abs()
        self._phase = torch.where(self._s > 0, K / torch.where(self._s > 0, self._s, 1), 1)

    def A(self, x):
        self.check(x)
        return torch.fft.ifft2(torch.fft.fft2(x) * param(self.spectrum, x)).real

    def At(self, y):
        self.check(y, what="y")
        return torch.fft.ifft2(torch.fft.fft2(y) * param(self.spectrum, y).conj()).real

    def singulars(self):
        return self._s

    def Vt(self, x):
        return torch.fft.fft2(x, norm="ortho")

    def V(self, z):
        return torch.fft.ifft2(z, norm="ortho").real

    def Ut(self, y):
        return param(self._phase, y).conj() * torch.fft.fft2(y, norm="ortho")

    def U(self, z):
        return torch.fft.ifft2(param(self._phase, z) * z, norm="ortho").real


def _reflect_index(n: int, before: int, after: int) -> Tensor:
    """Source index of each position of a reflect-padded axis (no edge repeat, any pad width)."""
    i = torch.arange(-before, n + after)
    if n == 1:
        return torch.zeros_like(i)
    m = i % (2 * n - 2)
    return torch.where(m < n, m, 2 * n - 2 - m)


class ReflectBlur(_BlurBase, LinearOperator):
    """Correlation with reflect padding (as DPS), exact explicit adjoint; solves by CG.

    Computed by FFT on the padded grid (H + kh − 1, W + kw − 1), where the circular
    correlation equals the linear one on the H×W output, so large kernels are cheap.
    """

    def __init__(self, kernel: Tensor, input_shape, dtype=None):
        LinearOperator.__init__(self, input_shape, self._setup(kernel, input_shape, dtype))
        _, H, W = self.input_shape
        kh, kw = self.kernel.shape[-2:]
        self._rows = _reflect_index(H, kh // 2, kh - 1 - kh // 2)
        self._cols = _reflect_index(W, kw // 2, kw - 1 - kw // 2)
        self._grid = (H + kh - 1, W + kw - 1)
        self.spectrum = torch.fft.rfft2(self.kernel, s=self._grid)

    def A(self, x):
        self.check(x)
        _, H, W = self.input_shape
        xp = x.index_select(2, self._rows.to(x.device)).index_select(3, self._cols.to(x.device))
        K = param(self.spectrum, x).conj()
        return torch.fft.irfft2(torch.fft.rfft2(xp) * K, s=self._grid)[..., :H, :W]

    def At(self, y):
        self.check(y, what="y")
        B, C, H, W = y.shape
        g = torch.fft.irfft2(torch.fft.rfft2(y, s=self._grid) * param(self.spectrum, y), s=self._grid)
        g = y.new_zeros(B, C, H, g.shape[3]).index_add(2, self._rows.to(y.device), g)
        return y.new_zeros(B, C, H, W).index_add(3, self._cols.to(y.device), g)


def Blur(kernel: Tensor, input_shape, boundary: str = "circular", dtype=None):
    """Blur with any kernel; ``boundary`` is "circular" (exact FFT SVD) or "reflect"."""
    if boundary == "circular":
        return CircularBlur(kernel, input_shape, dtype)
    if boundary == "reflect":
        return ReflectBlur(kernel, input_shape, dtype)
    raise ValueError(f"boundary must be 'circular' or 'reflect', got {boundary!r}")


def GaussianBlur(input_shape, size: int = 61, std: float = 3.0, boundary: str = "circular", dtype=None):
    """Gaussian blur; DPS protocol: 61×61, std 3.0 on 256² images."""
    return Blur(gaussian_kernel(size, std), input_shape, boundary, dtype)


def UniformBlur(input_shape, size: int = 9, boundary: str = "circular", dtype=None):
    """Uniform (box) blur; DDRM: 9×9 on 256² images."""
    return Blur(uniform_kernel(size), input_shape, boundary, dtype)


def MotionBlur(
    input_shape,
    size: int = 61,
    intensity: float = 0.5,
    seed: int = 0,
    batch: int = 1,
    offset: int = 0,
    boundary: str = "circular",
    dtype=None,
):
    """Random motion blur, one kernel per sample i from seed ``(seed, offset + i)`` (DPS protocol)."""
    ks = torch.stack([motion_kernel(size, intensity, sample_seed(seed, offset + i)) for i in range(batch)])
    return Blur(ks, input_shape, boundary, dtype)
