"""The toy alignment protocol: liquid → nucleation → settling on a token lattice.

Each *prompt* ``j`` is one replica of a Potts-coupled token lattice in its own quenched random
field ``h_j(s)`` (the same on every site). Replica ``j`` at step ``t`` has the energy

.. math:: E_j(s) = -K(t) \\sum_{\\langle ik\\rangle} δ(s_i, s_k)
                 - \\sum_i \\big[α(t) h_j(s_i) + λ(t) \\ln p_0(s_i) + ρ(t) R(s_i)\\big]

at temperature ``T(t)``:

1. **liquid** — weak coupling ``K_liquid``, prompt fields at full strength: every prompt has
   its own token distribution (high ``I(prompt; token)``, many distinct distributions);
2. **nucleation** (SFT) — the seed ``p₀`` is the liquid distribution of one prompt
   (``seed_prompt``), measured in stage 1. The seed field ``λ ln p₀`` switches on, the prompt
   fields weaken to ``α_nucleated`` and the coupling rises to ``K_nucleated``: every prompt
   collapses onto the seed (``I → 0``, overlap with ``p₀ → 1``);
3. **settling** (RL) — the temperature anneals to ``T_settled`` under a reward tilt ``ρ R(s)``
   that favours one of the seed's own options; the seed field stays (the KL anchor), so mass
   moves *within* ``p₀``'s support (retention stays high while ``JS(·, p₀)`` changes).

The seed's support is the set of options with ``p₀ > support_eps`` (2% by default: ``p₀`` is
measured on a finite lattice, so smaller values are within its noise).

The statistics are the shared ones of :mod:`phasejax.analysis.distributions`, computed on each
prompt's token distribution averaged over a sliding window of records, and every window gets
a phase label from :func:`phasejax.analysis.distributions.phase_label`.

**Prompts as sites** (:func:`site_distributions`, :func:`follow_path`): the same energy with one
site per prompt, every pair of sites coupled on a complete graph, each site in its own prompt's
field, solved in the large-lattice (mean-field) limit and followed along a protocol branch by
branch. This reading is the one fitted to a language model's post-training
(:mod:`phasejax.fit.dose`): there ``K`` is the transfer between prompts through shared weights.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.analysis import distributions as D
from phasejax.lattice import schedules as S
from phasejax.lattice.anneal import anneal
from phasejax.lattice.geometry import Lattice
from phasejax.lattice.model import CouplingModel
from phasejax.lattice.samplers import make as make_sampler
from phasejax.lattice.seeding import seed_field

STAGES = ("liquid", "nucleation", "settling")


@dataclasses.dataclass(frozen=True)
class AlignmentProtocol:
    """The toy alignment protocol: liquid (prompt fields), nucleation (seed field), settling
    (low-T anneal under a reward tilt), with the parameters of each stage.
    """

    L: int = 12
    dim: int = 2
    q: int = 8
    n_prompts: int = 16
    prompt_scale: float = 2.0
    K_liquid: float = 0.2
    T_liquid: float = 1.0
    liquid_steps: int = 400
    K_nucleated: float = 0.3
    seed_strength: float = 1.0
    prompt_scale_nucleated: float = 0.05
    nucleation_steps: int = 600
    T_settled: float = 0.7
    reward_strength: float = 1.0
    reward_token: Optional[int] = None
    settling_steps: int = 600
    seed_prompt: int = 0
    support_eps: float = 0.02
    record_every: int = 5
    window: int = 20
    sampler: str = "metropolis"
    seed: int = 0

    def __post_init__(self):
        for name in ("liquid_steps", "nucleation_steps", "settling_steps"):
            v = getattr(self, name)
            if v % self.record_every or v < self.record_every * self.window:
                raise ValueError(f"{name}={v} must be a multiple of record_every="
                                 f"{self.record_every} and span at least window={self.window} "
                                 "records")
        if not 0 <= self.seed_prompt < self.n_prompts:
            raise ValueError(f"seed_prompt={self.seed_prompt} must name one of the "
                             f"{self.n_prompts} prompts")
        if self.reward_token is not None and not 0 <= self.reward_token < self.q:
            raise ValueError(f"reward_token={self.reward_token} is not a token of q={self.q}")
        if self.n_prompts < 2:
            raise ValueError("the protocol needs at least two prompts")


def _model(lattice, q, K, field):
    return CouplingModel(lattice=lattice, q=q, W=(K * jnp.eye(q, dtype=jnp.float32))[None],
                         h=field, h_site=None)


def _windowed(counts, n_sites, window):
    """Per-record family of prompt distributions averaged over the last ``window`` records."""
    p = counts / n_sites                                   # (J, n, q)
    c = np.cumsum(p, axis=1)
    out = np.empty_like(p)
    for t in range(p.shape[1]):
        lo = max(0, t - window + 1)
        out[:, t] = (c[:, t] - (c[:, lo - 1] if lo else 0.0)) / (t - lo + 1)
    return out


def family_statistics(family, seed, eps: float = 1e-3) -> dict:
    """All shared statistics of a ``(J, q)`` family against the seed, plus the phase label.

    ``eps``: options with ``p₀ > eps`` form the seed's support.
    """
    mean = family.mean(0)
    st = D.phase_statistics(family, seed, eps)
    return {
        "mean_entropy": float(np.mean(np.asarray(D.entropy(family)))),
        "entropy_of_mean": float(D.entropy(mean)),
        "mutual_information": float(D.mutual_information(family)),
        "prompt_dependence": st.prompt_dependence,
        "n_distinct": D.n_distinct(family),
        "mean_pairwise_js": float(D.mean_pairwise_js(family)),
        "order_parameter": float(D.order_parameter(mean)),
        "seed_overlap": st.seed_overlap,
        "js_to_seed": st.js_to_seed,
        "support_retention": st.support_retention,
        "phase": D.phase_label(st),
    }


def run_alignment(p: AlignmentProtocol, progress: bool = False) -> dict:
    """Run the three stages; returns time series, stage summaries, the seed and the reward."""
    key = jax.random.key(p.seed)
    k_fields, k_liq, k_rest = jax.random.split(key, 3)
    lat = Lattice("hypercubic", p.L, p.dim)
    fields = p.prompt_scale * jax.random.normal(k_fields, (p.n_prompts, p.q))
    sampler = make_sampler(p.sampler)

    liquid = anneal(k_liq, lambda t, r: _model(lat, p.q, jnp.float32(p.K_liquid), fields[r]),
                    sampler, p.T_liquid, p.liquid_steps, n_replicas=p.n_prompts,
                    record_every=p.record_every, progress=progress)
    fam_liq = _windowed(liquid.counts, lat.n_sites, p.window)
    p0 = fam_liq[p.seed_prompt, -1]
    order = np.argsort(-p0)
    reward_token = int(order[1]) if p.reward_token is None else p.reward_token
    reward = np.zeros(p.q, np.float32)
    reward[reward_token] = 1.0
    seed_bias = seed_field(p0, 1.0)

    n1, n2 = p.nucleation_steps, p.settling_steps
    K = S.piecewise([S.linear(p.K_liquid, p.K_nucleated, n1 // 2), S.constant(p.K_nucleated)],
                    [n1])
    alpha = S.linear(1.0, p.prompt_scale_nucleated, n1 // 2)
    lam = S.linear(0.0, p.seed_strength, n1 // 2)
    rho = S.piecewise([S.constant(0.0), S.linear(0.0, p.reward_strength, n2 // 2)], [n1])
    T = S.piecewise([S.constant(p.T_liquid), S.linear(p.T_liquid, p.T_settled, n2 // 2)], [n1])

    def model_at(t, r):
        field = alpha(t) * fields[r] + lam(t) * seed_bias + rho(t) * jnp.asarray(reward)
        return _model(lat, p.q, K(t), field)

    rest = anneal(k_rest, model_at, sampler, T, n1 + n2, n_replicas=p.n_prompts,
                  record_every=p.record_every, init=jnp.asarray(liquid.tokens),
                  progress=progress)
    counts = np.concatenate([liquid.counts, rest.counts], axis=1)
    steps = np.concatenate([liquid.steps, rest.steps + p.liquid_steps])
    temps = np.concatenate([liquid.temperature, rest.temperature])
    fam = _windowed(counts, lat.n_sites, p.window)
    bounds = np.array([p.liquid_steps, p.liquid_steps + n1, p.liquid_steps + n1 + n2])
    stage = np.array([STAGES[int(np.searchsorted(bounds, s, side="right"))] for s in steps])
    series = [family_statistics(fam[:, t], p0, p.support_eps) for t in range(fam.shape[1])]
    summaries = {}
    for name, end in zip(STAGES, bounds):
        t = int(np.searchsorted(steps, end - 1))
        summaries[name] = family_statistics(fam[:, t], p0, p.support_eps)
    return {"steps": steps, "temperature": temps, "stage": stage, "series": series,
            "stages": summaries, "seed": p0, "seed_prompt": p.seed_prompt,
            "reward_token": reward_token, "families": fam, "boundaries": bounds.tolist()}


# ----------------------------------------------------------------- prompts as sites
# The protocol read with one site per prompt: the sites of a complete graph, every pair coupled
# with K/N, each site in its own prompt's field. Used to fit the protocol to a language model's
# post-training curves (phasejax.fit.dose), where the coupling K stands for what training on
# some prompts does to the others through the shared weights.
class SiteFields(NamedTuple):
    """The fields of the prompt-site toy at one point of a protocol (leading axes allowed)."""

    alpha: jnp.ndarray     # (J,) prompt-field strength of each site
    lam: jnp.ndarray       # (J,) seed-field strength of each site
    rho: jnp.ndarray       # () reward tilt


def site_distributions(log_liquid, seed_bias, reward, K, fields: SiteFields, T, m, *,
                       n_iter: int = 200, damping: float = 0.5):
    """Token distributions of the prompt sites at one point, and their mean ``m``.

    ``J`` prompt sites, ``r → ∞`` copies of each on a complete graph with coupling ``K/N``: the
    protocol's energy with one field per prompt. Site ``j`` then sees the mean-field local field

    .. math:: φ_j(s) = α_j f_j(s) + λ_j \\ln p_0(s) + ρ R(s) + K (m(s) − \\bar m_0(s)),
              \\qquad p_j(s) ∝ e^{φ_j(s)/T}, \\quad m = \\mathrm{mean}_j\\, p_j,

    with ``f_j = ln p_j^{liquid}`` the prompt's liquid answer distribution (at ``T = 1``) and
    ``m̄₀`` its mean: the prompt fields carry the uniform part ``−K m̄₀``, so at ``α = 1``,
    ``λ = ρ = 0`` and ``T = 1`` the sites are the liquid, for every ``K``. ``m`` is found by
    damped fixed-point iteration from the given start: the branch it converges to is the one
    that start lies on, so a path followed point by point (:func:`follow_path`) shows
    hysteresis where the mean-field equations have several solutions.

    Args:
      log_liquid: ``(J, q)`` log-probabilities of the liquid (finite); its dtype is the
        computation's (every other array must share it).
      seed_bias: ``(q,)`` ``ln p₀`` of the seed, floored: ``seed_field(p₀, 1.0)``
        (:func:`~phasejax.lattice.seeding.seed_field`).
      reward: ``(q,)`` the reward ``R`` of each token.
      K: the coupling.
      fields: the :class:`SiteFields` of this point.
      T: temperature.
      m: ``(q,)`` where the iteration starts.
      n_iter, damping: iterations of ``m ← (1 − damping) m + damping · mean_j p_j``.

    Returns:
      ``(p, m)``: ``(J, q)`` site distributions and their ``(q,)`` mean.
    """
    f = jnp.asarray(log_liquid)
    m0 = jnp.mean(jax.nn.softmax(f, -1), 0)
    base = (fields.alpha[:, None] * f + fields.lam[:, None] * seed_bias[None]
            + fields.rho * jnp.asarray(reward, f.dtype)[None] - K * m0[None])

    def sites(m):
        return jax.nn.softmax((base + K * m[None]) / T, -1)

    def body(_, m):
        return (1.0 - damping) * m + damping * jnp.mean(sites(m), 0)

    m = jax.lax.fori_loop(0, n_iter, body, jnp.asarray(m, f.dtype))
    return sites(m), m


def follow_path(log_liquid, seed_bias, reward, K, path: SiteFields, T, m_start=None, *,
                n_iter: int = 200, damping: float = 0.5):
    """Site distributions ``(n, J, q)`` along a path of ``n`` points, each started from the
    previous point's state (the first from ``m_start``, by default the liquid's mean): the
    state follows its branch as the fields change (see :func:`site_distributions`)."""
    f = jnp.asarray(log_liquid)
    m = jnp.mean(jax.nn.softmax(f, -1), 0) if m_start is None else jnp.asarray(m_start)

    def step(m, point):
        p, m = site_distributions(f, seed_bias, reward, K, point, T, m, n_iter=n_iter,
                                  damping=damping)
        return m, p

    _, p = jax.lax.scan(step, m.astype(f.dtype), path)
    return p
