"""Phase retrieval: y = |F pad(x)|, Fourier magnitudes with oversampling (DPS, Chung et al. 2023).

As in DPS, the image is zero-padded by ``int(oversampling/8 · H)`` pixels on each
side (64 px for 256² at oversampling 2.0) and F is the orthonormal 2-D FFT with the
zero frequency shifted to the centre.  Nonlinear: only ``A``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..base import Operator


class PhaseRetrieval(Operator):
    """y = |fftshift(fft2(pad(x), norm="ortho"))|; output (C, H + 2p, W + 2p)."""

    def __init__(self, input_shape, oversampling: float = 2.0):
        if len(input_shape) != 3:
            raise ValueError(f"phase retrieval needs an image input_shape (C, H, W), got {tuple(input_shape)}")
        super().__init__(input_shape)
        C, H, W = self.input_shape
        self.pad = (int(oversampling / 8 * W), int(oversampling / 8 * H))
        self.output_shape = (C, H + 2 * self.pad[1], W + 2 * self.pad[0])

    def A(self, x):
        self.check(x)
        pw, ph = self.pad
        z = torch.fft.fft2(F.pad(x, (pw, pw, ph, ph)), norm="ortho")
        return torch.fft.fftshift(z, dim=(-2, -1)).abs()
