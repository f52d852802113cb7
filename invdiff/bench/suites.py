"""Benchmark suites for :func:`invdiff.bench.run_suite`: ``mnist``, ``photo``/``photo256``, ``ffhq256``, ``smoke``.

``get_suite(name, **kw)`` returns a :class:`invdiff.bench.spec.Suite`.

mnist — the 500 held-out digits (``invdiff.data.mnist("test")``), 28×28, σ_y = 0.05
on [-1, 1], the shipped prior ``load_prior("mnist")``; tasks are the DPS protocol
scaled from 256 to 28 pixels (factor 28/256 ≈ 0.109):

| task | operator | parameters | note |
|---|---|---|---|
| inpaint_box | inpaint_box | 14×14 hole, margin 2, random position per image | 128·0.109 = 14, 16·0.109 ≈ 2 |
| inpaint_random | inpaint_random | 70 % of pixels dropped, per image | as DAPS |
| gaussian_blur | gaussian_blur | 9×9, std 1.0, circular | strict scaling (7×7, std 0.33) is nearly the identity; std 1.0 px blurs a 2–3 px stroke visibly |
| motion_blur | motion_blur | 7×7, intensity 0.5, new kernel per image, circular | 61·0.109 ≈ 7 |
| sr2 / sr4 | sr_bicubic | ×2 / ×4 bicubic down-sampling (28 → 14 / 7) | |
| denoise | denoise | y = x + n | |

Per-task settings (REFERENCES.md): DPS ζ = 0.3 (blur, SR) / 0.5 (inpainting), DiffPIR ζ = 0.1
(blur, SR) / 1.0 (inpainting), DAPS η = 1e-4 (SR, Gaussian blur, random inpainting) / 5e-5 (box,
motion); sampler defaults otherwise.  Methods: the posterior samplers at their default NFE and at NFE
20 and 100, Tweedie's 1-NFE posterior mean (``tweedie``, denoising only), deepinv's DPS/DiffPIR/DDRM
(``deepinv-*``) at the same NFEs, and the classical baselines.

ffhq256 — the exact DPS protocol (DESIGN.md): FFHQ images 00000–00999 at 256², an ADM
checkpoint (``ffhq_10m.pt``), σ_y = 0.05 on [-1, 1]; SR×4 bicubic, 128×128 box
(margin 16), 70 % random inpainting, Gaussian blur 61×61 std 3.0, motion blur 61×61
intensity 0.5.  Pass ``images=`` (a folder) and ``checkpoint=``; without them a
shape-level smoke version runs on 2 shipped photos with a random network of ADM's
input/output shape (3 → 6 channels; ``net="adm"`` builds the real ADM architecture),
randomly initialised from a seeded generator, at NFE 2.

photo / photo256 — the 4 held-out shipped photos (``invdiff.data.PHOTO_TEST``) at 128² / 256²
gray with the shipped photo prior; the DPS protocol scaled to the image size (box 128·f with
margin 16·f, Gaussian blur 61·f std 3·f, motion blur 61·f, f = size/256), plus ×2 SR and
denoising; every sampler and deepinv peer at NFE 50 (a CPU budget), classical baselines tuned
on 4 train photos.

smoke — 2 test digits, box inpainting and Gaussian blur, every sampler at NFE 10 (suite.nfe).
"""

from __future__ import annotations

from .spec import Method, Suite, Task

SIGMA_Y = 0.05
MATCHED_NFE = (20, 100)


def _kw(kind: str, box: bool = False, motion: bool = False) -> dict:
    """Per-task sampler keywords of the reference implementations."""
    inpaint = kind == "inpaint"
    return {
        "dps": {"zeta": 0.5 if inpaint else 0.3, "zeta_scaling": "sqrt"},
        "diffpir": {"zeta": 1.0 if inpaint else 0.1},
        "daps": {"lr": 5e-5 if (box or motion) else 1e-4},
    }


def _task(name: str, operator: str, kind: str, sigma_y: float, params=None, **flags) -> Task:
    """A task with the reference implementations' sampler keywords for its kind (``flags``: box, motion)."""
    return Task(name, operator, sigma_y, kind, dict(params or {}), method_kw=_kw(kind, **flags))


def mnist_tasks(sigma_y: float = SIGMA_Y) -> list[Task]:
    return [
        _task("inpaint_box", "inpaint_box", "inpaint", sigma_y, {"size": 14, "margin": 2}, box=True),
        _task("inpaint_random", "inpaint_random", "inpaint", sigma_y, {"fraction": 0.7}),
        _task("gaussian_blur", "gaussian_blur", "blur", sigma_y, {"size": 9, "std": 1.0}),
        _task("motion_blur", "motion_blur", "blur", sigma_y, {"size": 7, "intensity": 0.5}, motion=True),
        _task("sr2", "sr_bicubic", "sr", sigma_y, {"factor": 2}),
        _task("sr4", "sr_bicubic", "sr", sigma_y, {"factor": 4}),
        _task("denoise", "denoise", "denoise", sigma_y),
    ]


def ffhq_tasks(sigma_y: float = SIGMA_Y) -> list[Task]:
    return [
        _task("sr4", "sr_bicubic", "sr", sigma_y, {"factor": 4}),
        _task("inpaint_box", "inpaint_box", "inpaint", sigma_y, {"size": 128, "margin": 16}, box=True),
        _task("inpaint_random", "inpaint_random", "inpaint", sigma_y, {"fraction": 0.7}),
        _task("gaussian_blur", "gaussian_blur", "blur", sigma_y, {"size": 61, "std": 3.0}),
        _task("motion_blur", "motion_blur", "blur", sigma_y, {"size": 61, "intensity": 0.5}, motion=True),
    ]


PEERS = ("dps", "diffpir", "ddrm")
BASELINES = ("pinv", "wiener", "biharmonic", "bicubic", "tv_denoise")


def samplers() -> tuple[str, ...]:
    """``invdiff.samplers.POSTERIOR`` but the SMC samplers (NFE = steps × particles; benchmarks/gmm_posterior.py,
    calibration.py, smc_mnist.py cover them), in registry order, read when called (new samplers join)."""
    from invdiff.samplers import approximate_samplers

    return tuple(approximate_samplers())


def __getattr__(name):  # SAMPLERS is derived from the registry on first use (importing this module stays light)
    if name == "SAMPLERS":
        return samplers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def methods(
    matched=MATCHED_NFE, peers: bool = True, baselines: bool = True, only_matched: bool = False
) -> list[Method]:
    """Our samplers (default NFE + ``matched``), Tweedie's posterior mean (denoising; :mod:`invdiff.tweedie`),
    deepinv peers, classical baselines.

    ``only_matched``: run the samplers at the ``matched`` NFEs only (pass ``nfe=`` to
    :func:`invdiff.bench.run_suite` for the same effect on a ready suite).
    """
    from invdiff.tweedie import tweedie_denoise

    out = [Method(m, "sampler", tuple(matched)) for m in samplers()]
    out.append(Method("tweedie", "sampler", fn=tweedie_denoise))  # denoising tasks only, 1 NFE
    if peers:
        out += [Method(f"deepinv-{m}", "deepinv", tuple(matched)) for m in PEERS]
    if baselines:
        out += [Method(b, "baseline") for b in BASELINES]
    return out


def mnist(prior=None) -> Suite:
    from invdiff.data import mnist as digits
    from invdiff.load import load_prior

    return Suite(
        "mnist",
        (1, 28, 28),
        mnist_tasks(),
        methods(),
        images=lambda: digits("test"),
        prior=lambda: prior if prior is not None else load_prior("mnist"),
        train_images=lambda: digits("train")[:16],
        seeds=(0,),
        batch_size=50,
        notes="MNIST 500 held-out digits, 28×28; DPS protocol scaled to 28 px (invdiff/bench/suites.py); "
        "σ_y = 0.05 on [-1, 1] for every task.",
    )


def smoke(prior=None) -> Suite:
    from invdiff.data import mnist as digits

    s = mnist(prior)
    keep = {"inpaint_box", "gaussian_blur"}
    s.name, s.tasks = "smoke", [t for t in s.tasks if t.name in keep]
    s.images = lambda: digits("test")[:2]
    s.batch_size, s.n_show, s.nfe = 2, 2, (10,)
    s.notes = "Smoke run: 2 test digits, 2 tasks, every sampler at NFE 10."
    return s


def _randomize_(net, seed: int = 0):
    """Redraw ``net``'s weights from a generator seeded with ``seed`` (no global RNG): each parameter that
    is not constant gets U(±1/√fan_in), fan_in = elements per output unit (per element for 1-D ones);
    constant ones (norm scales, zero-initialised layers) are kept."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.numel() > 1 and bool((p != p.flatten()[0]).any()):
                b = (p[0].numel() if p.ndim > 1 else p.numel()) ** -0.5
                p.copy_(torch.empty(p.shape, dtype=p.dtype).uniform_(-b, b, generator=g))
    return net


def _random_adm_prior(net: str = "small"):
    """A randomly initialised network with ADM's input/output shape (3 → 6 channels, 256²)."""
    import torch

    from invdiff.prior import EpsPrior

    with torch.random.fork_rng():  # the default initialisation's draws leave the caller's RNG as it was
        if net == "adm":
            from invdiff.nets.adm import ADMNet, build_diffunet

            model = ADMNet(build_diffunet(3, 6, large_model=False, device="cpu"))
        else:
            from invdiff.nets.unet import UNet, UNetConfig

            model = UNet(
                UNetConfig(
                    in_channels=3, out_channels=6, channels=8, multipliers=(1, 2, 2, 2), attention_levels=(), groups=4
                )
            )
    model = _randomize_(model, seed=0).eval().requires_grad_(False)
    return EpsPrior(model, "linear", image_shape=(3, 256, 256), name=f"random-{net}")


def ffhq256(images=None, checkpoint=None, n_images: int = 1000, net: str = "small") -> Suite:
    """The DPS protocol on FFHQ 256 (``images``: folder, first ``n_images`` sorted files; ``checkpoint``:
    an ADM file).  Without both: the smoke version (2 photos, random network, NFE 2)."""
    from invdiff import data

    if (images is None) != (checkpoint is None):
        raise ValueError("ffhq256 needs both images= (a folder) and checkpoint= (an ADM file), or neither (smoke)")
    if images is not None:
        from invdiff.io import read_images
        from invdiff.load import load_prior

        return Suite(
            "ffhq256",
            (3, 256, 256),
            ffhq_tasks(),
            methods(),
            images=lambda: read_images(images, n_images),
            prior=lambda: load_prior(checkpoint),
            seeds=(0,),
            batch_size=10,
            notes=f"FFHQ 256, DPS protocol; images {images}, checkpoint {checkpoint}; σ_y = 0.05 on [-1, 1]. "
            "Classical baselines use their documented default weights (no training images).",
        )
    import torch

    def photos():
        return torch.cat([data.photo(n, 256, 3) for n in data.PHOTO_TEST[:2]])

    return Suite(
        "ffhq256-smoke",
        (3, 256, 256),
        ffhq_tasks(),
        methods(),
        images=photos,
        prior=lambda: _random_adm_prior(net),
        seeds=(0,),
        batch_size=2,
        n_show=2,
        nfe=(2,),
        notes="Shape-level smoke run of the FFHQ 256 protocol: 2 shipped photos, a random network of "
        "ADM's input/output shape; numbers are meaningless. Every sampler at NFE 2.",
    )


def photo_tasks(size: int = 128, sigma_y: float = SIGMA_Y) -> list[Task]:
    """The DPS protocol (defined at 256²) scaled to ``size``: box 128·f (margin 16·f), Gaussian blur
    61·f std 3·f, motion blur 61·f, f = size/256 (odd kernel sizes)."""
    f = size / 256
    k = 2 * round(61 * f / 2) + 1
    return [
        _task(
            "inpaint_box", "inpaint_box", "inpaint", sigma_y, {"size": int(128 * f), "margin": int(16 * f)}, box=True
        ),
        _task("inpaint_random", "inpaint_random", "inpaint", sigma_y, {"fraction": 0.7}),
        _task("gaussian_blur", "gaussian_blur", "blur", sigma_y, {"size": k, "std": 3.0 * f}),
        _task("motion_blur", "motion_blur", "blur", sigma_y, {"size": k, "intensity": 0.5}, motion=True),
        _task("sr2", "sr_bicubic", "sr", sigma_y, {"factor": 2}),
        _task("sr4", "sr_bicubic", "sr", sigma_y, {"factor": 4}),
        _task("denoise", "denoise", "denoise", sigma_y),
    ]


PHOTO_NFE = (50,)


def photo(prior=None, size: int = 128) -> Suite:
    """Held-out shipped photos (``data.PHOTO_TEST``, gray, center crop) at ``size``² with the photo prior.

    Every sampler and deepinv peer at NFE 50 (``PHOTO_NFE``; pass ``nfe=`` for more) — a CPU budget:
    one network evaluation at 128² takes ~0.2 s on one core.  Baseline weights are tuned on 4 train photos.
    """
    import torch

    from invdiff import data
    from invdiff.load import load_prior

    if size % 4:
        raise ValueError(f"photo suite size must be divisible by 4 (×4 super-resolution), got {size}")
    return Suite(
        f"photo{size}",
        (1, size, size),
        photo_tasks(size),
        methods(),
        images=lambda: torch.cat([data.photo(n, size) for n in data.PHOTO_TEST]),
        prior=lambda: prior if prior is not None else load_prior("photo"),
        train_images=lambda: torch.cat([data.photo(n, size) for n in data.PHOTO_TRAIN[:4]]),
        seeds=(0,),
        batch_size=4,
        n_show=4,
        nfe=PHOTO_NFE,
        notes=f"Held-out photos {', '.join(data.PHOTO_TEST)} at {size}² gray; DPS protocol scaled "
        f"to {size} px (invdiff/bench/suites.py photo_tasks); σ_y = 0.05 on [-1, 1]; shipped photo prior.",
    )


def photo256(prior=None) -> Suite:
    return photo(prior, 256)


SUITES = {"mnist": mnist, "photo": photo, "photo256": photo256, "ffhq256": ffhq256, "smoke": smoke}


def get_suite(name: str, **kw) -> Suite:
    """A suite by name: ``mnist``, ``photo`` (128²), ``photo256``, ``ffhq256`` (``images=``,
    ``checkpoint=``) or ``smoke``."""
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; choose from {sorted(SUITES)}")
    return SUITES[name](**kw)
