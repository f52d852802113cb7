"""Linear algebra on duck-typed operators: pinv, prox, (AAᵀ+cI)⁻¹, adjoints, CG.

Every function takes *any* object: an operator of this package, a user's class
with only ``A``/``At``, or one with only the SVD methods ``U, Ut, V, Vt,
singulars`` (DESIGN.md, "SVD layout").  Each uses, in order: the operator's own
method (``op.pinv`` …), the exact SVD formula, or batched conjugate gradients.

SVD layout: ``A(x) == U(singulars() * Vt(x))``; ``V`` is square and orthonormal
(possibly complex, as for FFT blur; ``V`` then returns the real image), ``U`` has
orthonormal columns (``U(Ut(y)) == y`` for y in the range, ``Ut`` may drop
directions) and returns measurements in y's own type.
``c`` and ``rho`` may be floats or ``(B,)`` tensors.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["is_linear", "has_svd", "forward", "adjoint", "pinv", "prox", "solve_AAt",
           "cg", "require", "capabilities", "SAMPLER_NEEDS",
           "forward_svd", "adjoint_svd", "pinv_svd", "prox_svd", "solve_AAt_svd",
           "pinv_cg", "prox_cg", "solve_AAt_cg"]

_SVD = ("U", "Ut", "V", "Vt", "singulars")
# what each sampler of invdiff needs (DESIGN.md table); used to word require()'s errors
SAMPLER_NEEDS = {"dps": "any", "reddiff": "any", "daps": "any", "pigdm": "linear",
                 "ddnm": "pinv", "diffpir": "prox", "ddrm": "svd",
                 "mcgdiff": "svd", "tds": "any"}


def _has(op, *names) -> bool:
    return all(callable(getattr(op, n, None)) for n in names)


def has_svd(op) -> bool:
    """True when ``op`` has ``U, Ut, V, Vt, singulars``."""
    return _has(op, *_SVD)


def is_linear(op) -> bool:
    """True when ``op`` has callable ``A`` and ``At`` (or the SVD methods, from which they follow)."""
    return _has(op, "A", "At") or has_svd(op)


def capabilities(op) -> set[str]:
    """Subset of {"any", "linear", "svd", "pinv", "prox"} that ``op`` supports."""
    caps = set()
    if _has(op, "A") or has_svd(op):
        caps.add("any")
    if is_linear(op):
        caps |= {"linear", "pinv", "prox"}
    if has_svd(op):
        caps.add("svd")
    return caps


def require(op, capability: str, sampler: str) -> None:
    """Raise ``TypeError`` unless ``op`` has ``capability`` (any | linear | svd | pinv | prox)."""
    need = {"any": ("A",), "linear": ("A", "At"), "svd": _SVD, "pinv": ("A", "At"), "prox": ("A", "At")}
    if capability not in need:
        raise ValueError(f"capability must be one of {sorted(need)}, got {capability!r}")
    caps = capabilities(op)
    if capability in caps:
        return
    missing = [n for n in need[capability] if not callable(getattr(op, n, None))]
    ok = sorted(s for s, c in SAMPLER_NEEDS.items() if c in caps)
    alt = " or the SVD methods (U, Ut, V, Vt, singulars)" if capability in ("linear", "pinv", "prox") else ""
    raise TypeError(
        f"{sampler} needs an operator with {', '.join(missing)}{alt} ({capability!r} capability); "
        f"{type(op).__name__} lacks it. Operators that lack it work with: {', '.join(ok) or 'none'}")


# --------------------------------------------------------------------------- helpers
def _bc(v, like: Tensor):
    """A float or (B,) tensor, shaped to broadcast against a batch-first ``like``."""
    if torch.is_tensor(v):
        v = v.to(device=like.device, dtype=like.real.dtype if like.is_complex() else like.dtype)
        if v.ndim == 1:
            v = v.reshape(-1, *[1] * (like.ndim - 1))
    return v


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample real inner products, shape (B,)."""
    p = a.conj() * b if a.is_complex() or b.is_complex() else a * b
    return p.real.flatten(1).sum(1) if p.is_complex() else p.flatten(1).sum(1)


def _s(op, like: Tensor) -> Tensor:
    s = op.singulars()
    return s.to(device=like.device, dtype=like.real.dtype if like.is_complex() else like.dtype)


def forward_svd(op, x: Tensor) -> Tensor:
    """``U(s·Vt(x))``."""
    z = op.Vt(x)
    return op.U(_s(op, z) * z)


def adjoint_svd(op, y: Tensor) -> Tensor:
    """``V(s·Ut(y))``."""
    z = op.Ut(y)
    return op.V(_s(op, z) * z)


def forward(op, x: Tensor) -> Tensor:
    """``op.A(x)``, or ``U(s·Vt(x))`` for an SVD-only operator."""
    return op.A(x) if _has(op, "A") else forward_svd(op, x)


def adjoint(op, y: Tensor, x_like: Tensor | None = None) -> Tensor:
    """``op.At(y)``; else ``V(s·Ut(y))``; else the vector–Jacobian product of ``op.A`` at ``x_like``."""
    if _has(op, "At"):
        return op.At(y)
    if has_svd(op):
        return adjoint_svd(op, y)
    if x_like is None:
        raise TypeError(f"{type(op).__name__} has no At: pass x_like to take the adjoint by autograd")
    with torch.enable_grad():
        x = x_like.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(op.A(x), x, grad_outputs=y)
    return g


# --------------------------------------------------------------------------- CG
def cg(apply, b: Tensor, x0: Tensor | None = None, tol: float | None = None, maxiter: int | None = None) -> Tensor:
    """Batched conjugate gradients for ``apply(x) = b`` with ``apply`` symmetric PSD per sample.

    Inner products and step sizes are per sample (dim 0 is the batch), so samples
    converge independently; a sample stops once ‖r‖ ≤ tol·‖b‖.
    ``maxiter`` defaults to min(number of unknowns per sample, 1000).
    """
    if maxiter is None:
        maxiter = min(b[0].numel(), 1000) if b.ndim > 0 else 1
    if tol is None:  # reachable in the working precision (1e-10 in float64, ~3e-6 in float32)
        tol = max(1e-10, 25 * torch.finfo(b.real.dtype if b.is_complex() else b.dtype).eps)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply(x) if x0 is not None else b.clone()
    p = r.clone()
    rr = _dot(r, r)
    stop = (tol * _dot(b, b).sqrt()).clamp_min(torch.finfo(rr.dtype).tiny) ** 2
    for _ in range(maxiter):
        active = rr > stop
        if not bool(active.any()):
            break
        Ap = apply(p)
        pAp = _dot(p, Ap)
        tiny = pAp <= 1e3 * torch.finfo(pAp.dtype).eps * _dot(p, p)  # direction in the null space: stop
        active = active & ~tiny
        alpha = torch.where(active, rr / torch.where(tiny, 1, pAp), 0)
        x = x + _bc(alpha, x) * p
        r = r - _bc(alpha, r) * Ap
        rr_new = _dot(r, r)
        beta = torch.where(active, rr_new / torch.where(rr > 0, rr, 1), 0)
        p = r + _bc(beta, p) * p
        rr = torch.where(active, rr_new, rr)
    return x


# --------------------------------------------------------------------------- SVD closed forms
def _rcond(s: Tensor) -> float:
    return 100 * torch.finfo(s.real.dtype).eps


def pinv_svd(op, y: Tensor, rcond: float | None = None) -> Tensor:
    """``V(Ut(y)/s)`` on directions with s > rcond·max(s) (per sample), 0 elsewhere."""
    z = op.Ut(y)
    s = _s(op, z)
    if s.ndim == z.ndim:  # per-sample singular values: threshold per sample
        smax = s.flatten(1).amax(1).reshape(-1, *[1] * (s.ndim - 1))
    else:  # shared by the batch (the event layout without a batch dimension)
        smax = s.amax()
    keep = s > (_rcond(s) if rcond is None else rcond) * smax
    return op.V(torch.where(keep, z / torch.where(keep, s, 1), 0))


def prox_svd(op, x: Tensor, y: Tensor, rho) -> Tensor:
    """(AᵀA+ρI)⁻¹(Aᵀy+ρx) = V((s·Ut(y) + ρ·Vt(x))/(s²+ρ)) + (x − V(Vt(x)))."""
    vx = op.Vt(x)
    s, r = _s(op, vx), _bc(rho, vx)
    return op.V((s * op.Ut(y) + r * vx) / (s * s + r)) + (x - op.V(vx))


def solve_AAt_svd(op, r: Tensor, c) -> Tensor:
    """(AAᵀ+cI)⁻¹ r = U(Ut(r)/(s²+c)) + (r − U(Ut(r)))/c."""
    ur = op.Ut(r)
    s = _s(op, ur)
    return op.U(ur / (s * s + _bc(c, ur))) + (r - op.U(ur)) / _bc(c, r)


# --------------------------------------------------------------------------- CG forms
def pinv_cg(op, y: Tensor, x_like: Tensor | None = None, tol: float | None = None, maxiter: int | None = None) -> Tensor:
    """Minimum-norm least squares: CG on AᵀA z = Aᵀy from z = 0 (iterates stay in range(Aᵀ))."""
    b = adjoint(op, y, x_like)
    return cg(lambda z: adjoint(op, forward(op, z), z), b, tol=tol, maxiter=maxiter)


def prox_cg(op, x: Tensor, y: Tensor, rho, tol: float | None = None, maxiter: int | None = None) -> Tensor:
    """CG on (AᵀA+ρI) z = Aᵀy + ρx, started at x."""
    r = _bc(rho, x)
    b = adjoint(op, y, x) + r * x
    return cg(lambda z: adjoint(op, forward(op, z), z) + r * z, b, x0=x, tol=tol, maxiter=maxiter)


def solve_AAt_cg(op, r: Tensor, c, x_like: Tensor | None = None, tol: float | None = None,
                 maxiter: int | None = None) -> Tensor:
    """CG on (AAᵀ+cI) z = r (x_like is needed only when At comes from autograd)."""
    cc = _bc(c, r)
    return cg(lambda z: forward(op, adjoint(op, z, x_like)) + cc * z, r, tol=tol, maxiter=maxiter)


# --------------------------------------------------------------------------- front doors
def pinv(op, y: Tensor, **kw) -> Tensor:
    """A⁺y: ``op.pinv`` if present, else through the SVD, else by CG on AᵀA."""
    if _has(op, "pinv"):
        return op.pinv(y)
    if has_svd(op):
        return pinv_svd(op, y)
    require(op, "pinv", "pinv")
    return pinv_cg(op, y, **kw)


def prox(op, x: Tensor, y: Tensor, rho, **kw) -> Tensor:
    """argmin_z ½‖y−Az‖² + (ρ/2)‖z−x‖² = (AᵀA+ρI)⁻¹(Aᵀy+ρx): ``op.prox``, SVD, or CG."""
    if _has(op, "prox"):
        return op.prox(x, y, rho)
    if has_svd(op):
        return prox_svd(op, x, y, rho)
    require(op, "prox", "prox")
    return prox_cg(op, x, y, rho, **kw)


def solve_AAt(op, r: Tensor, c, **kw) -> Tensor:
    """(AAᵀ + cI)⁻¹ r: ``op.solve_AAt``, SVD, or CG."""
    if _has(op, "solve_AAt"):
        return op.solve_AAt(r, c)
    if has_svd(op):
        return solve_AAt_svd(op, r, c)
    require(op, "linear", "solve_AAt")
    return solve_AAt_cg(op, r, c, **kw)
