"""The ε-UNet (Ho et al. 2020; Dhariwal & Nichol 2021 style residual blocks).

Residual blocks with a sinusoidal time embedding, GroupNorm and SiLU; optional
self-attention at the lowest resolutions; any H, W divisible by 2^(levels-1).
The network takes ``(x_t, t)`` with t the (continuous) DDPM timestep; the
VP<->VE conversion lives in :class:`invdiff.prior.EpsPrior`, not here.
A :class:`UNetConfig` saved next to the weights rebuilds the network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class UNetConfig:
    in_channels: int = 1
    out_channels: int | None = None  # defaults to in_channels
    channels: int = 32
    multipliers: tuple[int, ...] = (1, 2, 2)
    blocks_per_level: int = 1
    attention_levels: tuple[int, ...] = (2,)  # level indices (0 = full resolution); () = fully convolutional
    heads: int = 4
    dropout: float = 0.0
    groups: int = 8
    time_scale: float = 1.0  # multiplies t before the sinusoidal embedding

    def __post_init__(self):
        self.multipliers = tuple(int(m) for m in self.multipliers)
        self.attention_levels = tuple(int(a) for a in self.attention_levels)
        if self.out_channels is None:
            self.out_channels = self.in_channels
        if not self.multipliers:
            raise ValueError("multipliers must not be empty")
        bad = [a for a in self.attention_levels if not 0 <= a < len(self.multipliers)]
        if bad:
            raise ValueError(f"attention_levels {bad} outside 0..{len(self.multipliers) - 1}")
        for m in self.multipliers:
            if (self.channels * m) % self.groups:
                raise ValueError(f"channels*multiplier={self.channels * m} not divisible by groups={self.groups}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["multipliers"] = list(self.multipliers)
        d["attention_levels"] = list(self.attention_levels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UNetConfig keys: {sorted(unknown)}")
        return cls(**d)


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of (B,) timesteps, as in the Transformer / DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([args.cos(), args.sin()], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(emb)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, ch: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        o = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(o.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """ε-prediction UNet: ``forward(x_t, t) -> (B, out_channels, H, W)``."""

    def __init__(self, config: UNetConfig | None = None, **kw):
        super().__init__()
        cfg = config if config is not None else UNetConfig(**kw)
        self.config = cfg
        ch, g = cfg.channels, cfg.groups
        temb = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        skips, cur = [ch], ch
        levels = len(cfg.multipliers)
        for lvl, m in enumerate(cfg.multipliers):
            for _ in range(cfg.blocks_per_level):
                blk = nn.ModuleList([ResBlock(cur, ch * m, temb, g, cfg.dropout)])
                cur = ch * m
                if lvl in cfg.attention_levels:
                    blk.append(Attention(cur, cfg.heads, g))
                self.down.append(blk)
                skips.append(cur)
            if lvl < levels - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                skips.append(cur)
        self.mid = nn.ModuleList(
            [
                ResBlock(cur, cur, temb, g, cfg.dropout),
                Attention(cur, cfg.heads, g) if (levels - 1) in cfg.attention_levels else nn.Identity(),
                ResBlock(cur, cur, temb, g, cfg.dropout),
            ]
        )
        for lvl in reversed(range(levels)):
            m = cfg.multipliers[lvl]
            for _ in range(cfg.blocks_per_level + 1):
                blk = nn.ModuleList([ResBlock(cur + skips.pop(), ch * m, temb, g, cfg.dropout)])
                cur = ch * m
                if lvl in cfg.attention_levels:
                    blk.append(Attention(cur, cfg.heads, g))
                self.up.append(blk)
            if lvl > 0:
                self.up.append(
                    nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cur, cur, 3, padding=1)])
                )
        self.norm_out = nn.GroupNorm(g, cur)
        self.conv_out = nn.Conv2d(cur, cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.config.multipliers) - 1)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"UNet expects (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % self.factor or x.shape[-1] % self.factor:
            raise ValueError(f"H and W must be divisible by {self.factor}, got {tuple(x.shape[-2:])}")
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1).expand(x.shape[0])
        emb = self.time_mlp(timestep_embedding(t * cfg.time_scale, cfg.channels).to(x.dtype))
        h = self.conv_in(x)
        hs = [h]
        for blk in self.down:
            if isinstance(blk[0], ResBlock):
                h = blk[0](h, emb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[0](h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                h = blk[0](torch.cat([h, hs.pop()], 1), emb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[1](blk[0](h))
        return self.conv_out(F.silu(self.norm_out(h)))
