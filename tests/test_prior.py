"""The exact Gaussian-mixture prior and the VP->VE adapter, checked against independent answers."""

import math

import pytest
import torch
from conftest import ExactVPNet

from invdiff.prior import EpsPrior, GaussianMixturePrior, Prior
from invdiff.samplers import POSTERIOR
from invdiff.schedule import VPSchedule, ddpm_sigmas
from operators import Matrix, measure


def small_gmm() -> GaussianMixturePrior:
    """3 components in 2-D with different stds and weights (exercises per-component variances)."""
    means = torch.tensor([[-3.0, 0.0], [2.0, 1.0], [0.0, 4.0]], dtype=torch.float64)
    return GaussianMixturePrior(means, torch.tensor([0.5, 0.3, 0.2]), std=torch.tensor([0.5, 1.0, 2.0]))


def draw(prior: GaussianMixturePrior, n: int, seed: int) -> torch.Tensor:
    """Vectorised exact prior samples (for Monte Carlo), independent of ``prior.sample``."""
    g = torch.Generator().manual_seed(seed)
    k = torch.multinomial(prior.weights, n, replacement=True, generator=g)
    z = torch.randn(n, *prior.shape, generator=g, dtype=torch.float64)
    return prior.means[k] + prior.stds[k].reshape(-1, *([1] * len(prior.shape))) * z


def log_p_sigma(prior: GaussianMixturePrior, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Closed-form log density of x_σ = x0 + σ ε: Σ_k w_k N(x; m_k, (s_k² + σ²) I)."""
    xf = x.reshape(x.shape[0], -1)
    m = prior.means.reshape(len(prior.weights), -1)
    var = prior.stds**2 + sigma**2
    d = xf.shape[1]
    d2 = ((xf[:, None, :] - m[None]) ** 2).sum(-1)
    logc = prior.weights.log() - 0.5 * d * torch.log(2 * math.pi * var) - 0.5 * d2 / var
    return torch.logsumexp(logc, 1)


class BarePrior:
    """A user's prior: the three methods of the Prior protocol and nothing else (no base class, no schedule,
    no image_shape, no data_range)."""

    def __init__(self, inner):
        self.inner = inner

    def eps(self, x, sigma):
        return self.inner.eps(x, sigma)

    def x0(self, x, sigma):
        return self.inner.x0(x, sigma)

    def score(self, x, sigma):
        return self.inner.score(x, sigma)


@pytest.mark.parametrize("name", sorted(POSTERIOR))
def test_protocol_is_all_a_sampler_needs(name):
    """Every posterior sampler runs on a bare Prior (given x_shape) and gives what it gives on the full prior."""
    prior = small_gmm()
    bare = BarePrior(prior)
    assert isinstance(bare, Prior) and not isinstance(object(), Prior)
    op = Matrix(torch.tensor([[1.0, 0.5]], dtype=torch.float64))
    y = measure(op, prior.sample(3, seed=1, dtype=torch.float64), 0.1, seed=2)
    kw = dict(steps=4, seed=0, **({"daps": dict(ode_steps=2, langevin_steps=3)}.get(name, {})))
    out = POSTERIOR[name](bare, op, y, sigma_y=0.1, x_shape=(2,), **kw)
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    torch.testing.assert_close(out, POSTERIOR[name](prior, op, y, sigma_y=0.1, **kw))


@pytest.mark.parametrize(
    "which,sigma", [("small", 0.7), ("small", 2.0), ("small", 5.0), ("grid25", 1.5), ("grid25", 3.0), ("grid25", 6.0)]
)
def test_tweedie_x0_matches_monte_carlo(which, sigma, gmm25):
    """x0(x, σ) = E[x0 | x_σ = x] = Σ_i x0_i N(x; x0_i, σ²) / Σ_i N(x; x0_i, σ²) over prior draws x0_i."""
    prior = small_gmm() if which == "small" else gmm25
    x0s = draw(prior, 200_000, seed=1)
    g = torch.Generator().manual_seed(2)
    x = draw(prior, 6, seed=3) + sigma * torch.randn(6, *prior.shape, generator=g, dtype=torch.float64)
    x[0] = 0.5 * (prior.means[0] + prior.means[1])  # a point between modes, where responsibilities split
    logw = -0.5 * ((x[:, None] - x0s[None]) ** 2).reshape(6, len(x0s), -1).sum(-1) / sigma**2
    w = torch.softmax(logw, 1)  # (6, N)
    mc = w @ x0s.reshape(len(x0s), -1)
    ess = 1 / (w**2).sum(1)
    post_sd = ((w @ x0s.reshape(len(x0s), -1) ** 2) - mc**2).clamp(min=0).sqrt()
    exact = prior.x0(x, sigma).reshape(6, -1)
    tol = 5 * post_sd / ess.sqrt()[:, None] + 1e-3
    assert ess.min() > 300
    assert torch.all((exact - mc).abs() < tol), ((exact - mc).abs() / tol).max()
    # and the tolerance is tight enough to see a wrong shrinkage factor (x0 = x would fail)
    assert torch.any((x.reshape(6, -1) - mc).abs() > 10 * tol)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 3.0])
def test_score_matches_finite_differences_of_log_density(sigma, gmm25):
    for prior in (small_gmm(), gmm25):
        g = torch.Generator().manual_seed(4)
        x = draw(prior, 5, seed=5) + sigma * torch.randn(5, *prior.shape, generator=g, dtype=torch.float64)
        score = prior.score(x, sigma)
        h = 1e-5
        fd = torch.zeros_like(x)
        for j in range(prior.dim):
            e = torch.zeros(prior.dim, dtype=torch.float64)
            e[j] = h
            e = e.reshape(prior.shape)
            fd.reshape(5, -1)[:, j] = (log_p_sigma(prior, x + e, sigma) - log_p_sigma(prior, x - e, sigma)) / (2 * h)
        torch.testing.assert_close(score, fd, rtol=1e-5, atol=1e-5 / sigma)
        # the three views agree: ε = −σ·score, x0 = x − σ ε
        torch.testing.assert_close(prior.eps(x, sigma), -sigma * score)
        torch.testing.assert_close(prior.x0(x, sigma), x - sigma * prior.eps(x, sigma))


def test_per_sample_sigma_and_dtype(gmm25):
    x = draw(gmm25, 4, seed=6).float()
    sig = torch.tensor([0.1, 1.0, 4.0, 30.0])
    out = gmm25.x0(x, sig)
    assert out.dtype == torch.float32 and out.shape == x.shape
    rows = torch.cat([gmm25.x0(x[i : i + 1], float(sig[i])) for i in range(4)])
    torch.testing.assert_close(out, rows)
    with pytest.raises(ValueError):
        gmm25.x0(x, torch.ones(3))
    with pytest.raises(ValueError):
        gmm25.x0(torch.zeros(4, 7), 1.0)


def test_sample_is_per_sample_and_has_the_prior_moments():
    prior = small_gmm()
    a, b = prior.sample(6, seed=3), prior.sample(2, seed=3)
    torch.testing.assert_close(a[:2], b)
    assert not torch.allclose(prior.sample(2, seed=4), b)
    x = prior.sample(4000, seed=0, dtype=torch.float64)
    mean = (prior.weights[:, None] * prior.means).sum(0)
    second = (
        prior.weights[:, None, None]
        * (
            prior.means[:, :, None] * prior.means[:, None, :]
            + (prior.stds**2)[:, None, None] * torch.eye(2, dtype=torch.float64)
        )
    ).sum(0)
    cov = second - mean[:, None] * mean[None]
    torch.testing.assert_close(x.mean(0), mean, atol=0.12, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.35, rtol=0.05)


# ---- EpsPrior: the VP <-> VE adapter ------------------------------------------------------
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_eps_prior_reproduces_exact_eps(schedule, param, gmm25):
    sched = VPSchedule.from_name(schedule)
    net = ExactVPNet(gmm25, sched, param)
    prior = EpsPrior(net, sched, parameterization=param)
    grid = ddpm_sigmas(sched, 25)[:-1]
    g = torch.Generator().manual_seed(7)
    between = (
        grid[1:].log()
        + torch.rand(len(grid) - 1, generator=g, dtype=torch.float64) * (grid[:-1].log() - grid[1:].log())
    ).exp()
    for sigma in torch.cat([grid, between]).tolist():
        x = draw(gmm25, 3, seed=8) + sigma * torch.randn(3, 8, generator=g, dtype=torch.float64)
        torch.testing.assert_close(prior.eps(x, sigma), gmm25.eps(x, sigma), rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(prior.x0(x, sigma), gmm25.x0(x, sigma), rtol=1e-7, atol=1e-7)
        # the network saw the VP timestep of σ and the VP-scaled input
        torch.testing.assert_close(net.calls[-1], sched.sigma_to_t(torch.full((3,), sigma)))
    # per-sample σ and score
    sig = torch.tensor([0.05, 1.0, 20.0], dtype=torch.float64)
    x = draw(gmm25, 3, seed=9) + sig[:, None] * torch.randn(3, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(prior.score(x, sig), gmm25.score(x, sig), rtol=1e-7, atol=1e-9)
    assert prior.nfe > 0


def test_eps_prior_float32_network_path(gmm25):
    """A float32 input goes through the float64 'network' and comes back float32, still matching."""
    sched = VPSchedule.linear()
    prior = EpsPrior(ExactVPNet(gmm25, sched, "eps"), sched)
    x = (draw(gmm25, 4, seed=10) + 3.0 * torch.randn(4, 8, dtype=torch.float64)).float()
    out = prior.eps(x, 3.0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, gmm25.eps(x.double(), 3.0).float(), rtol=1e-4, atol=1e-5)


def test_eps_prior_drops_learned_variance_and_validates(gmm25):
    sched = VPSchedule.linear()
    prior = EpsPrior(ExactVPNet(gmm25, sched, "eps", learned_variance=True), sched)
    x = draw(gmm25, 2, seed=11).reshape(2, 8, 1, 1) + torch.randn(2, 8, 1, 1, dtype=torch.float64)
    img_prior = GaussianMixturePrior(gmm25.means.reshape(25, 8, 1, 1), gmm25.weights)
    prior.net.prior = img_prior
    torch.testing.assert_close(prior.eps(x, 1.0), img_prior.eps(x, 1.0))
    with pytest.raises(ValueError):
        prior.eps(x, 0.0)
    with pytest.raises(ValueError):
        EpsPrior(prior.net, sched, parameterization="score")
    assert prior.sigma_max == sched.sigma_max and prior.sigma_min == sched.sigma_min


# ---- closed-form posterior for y = A x0 + σ_y n ------------------------------------------
class MatrixOp:
    def __init__(self, M):
        self.M = M

    def A(self, x):
        return x.reshape(x.shape[0], -1).to(self.M) @ self.M.T


def mcgdiff_operator(dy: int, dx: int, seed: int):
    """Random A with its singular values replaced by sorted U(0,1) draws; σ_y = U(0,1)·max s (MCGdiff)."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(dy, dx, generator=g, dtype=torch.float64)
    U, _, Vh = torch.linalg.svd(M, full_matrices=False)
    s = torch.rand(dy, generator=g, dtype=torch.float64).sort(descending=True).values
    sigma_y = float(torch.rand((), generator=g, dtype=torch.float64) * s[0])
    return MatrixOp(U @ torch.diag(s) @ Vh), sigma_y


def test_posterior_single_gaussian_matches_textbook():
    d, m = 6, 3
    g = torch.Generator().manual_seed(12)
    mu0 = torch.randn(1, d, generator=g, dtype=torch.float64)
    s0 = 1.7
    op = MatrixOp(torch.randn(m, d, generator=g, dtype=torch.float64))
    sigma_y = 0.4
    y = torch.randn(m, generator=g, dtype=torch.float64)
    post = GaussianMixturePrior(mu0, std=s0).posterior(op, y, sigma_y)
    # Kalman form: K = s0² Aᵀ (s0² A Aᵀ + σ_y² I)⁻¹, mean = μ0 + K (y − A μ0), cov = s0² I − K A s0²
    A = op.M
    S = s0**2 * A @ A.T + sigma_y**2 * torch.eye(m, dtype=torch.float64)
    K = s0**2 * A.T @ torch.linalg.inv(S)
    torch.testing.assert_close(post.mean(), mu0[0] + K @ (y - A @ mu0[0]))
    torch.testing.assert_close(post.cov(), s0**2 * (torch.eye(d, dtype=torch.float64) - K @ A))
    assert post.weights.shape == (1,) and float(post.weights[0]) == pytest.approx(1.0)


def test_posterior_mixture_matches_importance_sampling(gmm25):
    op, sigma_y = mcgdiff_operator(2, 8, seed=15)
    x_true = draw(gmm25, 1, seed=14)
    y = op.A(x_true)[0] + sigma_y * torch.randn(2, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    post = gmm25.posterior(op, y, sigma_y)
    x0s = draw(gmm25, 400_000, seed=16)
    logw = -0.5 * ((op.A(x0s) - y) ** 2).sum(1) / sigma_y**2
    w = torch.softmax(logw, 0)
    ess = float(1 / (w**2).sum())
    mc = w @ x0s
    sd = ((w @ x0s**2) - mc**2).clamp(min=0).sqrt()
    assert ess > 1000
    assert torch.all((post.mean() - mc).abs() < 5 * sd / math.sqrt(ess) + 1e-3)
    # component weights vs the mass each prior component gets under the importance weights
    comp = torch.cdist(x0s[:, :2], gmm25.means[:, :2]).argmin(1)
    mass = torch.zeros(25, dtype=torch.float64).index_add_(0, comp, w)
    assert float((mass - post.weights).abs().sum()) < 0.05
    # posterior samples have the posterior's moments, and are per-sample seeded
    xs = post.sample(4000, seed=0, dtype=torch.float64)
    torch.testing.assert_close(xs[:3], post.sample(3, seed=0, dtype=torch.float64))
    tol = 5 * post.cov().diagonal().sqrt() / math.sqrt(4000)
    assert torch.all((xs.mean(0) - post.mean()).abs() < tol)
    torch.testing.assert_close(torch.cov(xs.T), post.cov(), atol=0.15 * float(post.cov().diagonal().max()), rtol=0)
    with pytest.raises(ValueError):
        gmm25.posterior(op, y, 0.0)
    with pytest.raises(ValueError):
        gmm25.posterior(op, torch.zeros(3), sigma_y)
