"""Statistics of state sequences — one implementation for the language model and the toy chain.

Input: ``y`` of shape ``(n, N)``, ``n`` independent sequences of ``N`` sites with integer states
in ``[0, q)`` — generated text mapped to states (:mod:`phasejax.text.spins`) or toy chains, open
(a generated sequence) or periodic (a lattice ring). Notation: ``X_a(s, t) = δ(a, y_{s,t})``;
``E`` is the average over sequences; ``μ_a(t) = E[X_a(t)]`` the ensemble mean at position ``t``
(generated text is not stationary: it starts after a prompt, so means are per position).

* **Fractions** ``m_a(s) = (1/N) Σ_t X_a(s, t)`` (:func:`state_fractions`).
* **Order parameter** (:func:`magnetisation`): for ``q = 2`` the signed Ising magnetisation
  ``m = 2 m_1 − 1``; for ``q > 2`` the Potts order parameter
  ``m = (q max_a m_a − 1)/(q − 1) ∈ [0, 1]`` (:func:`potts_m`, which is
  :func:`phasejax.analysis.distributions.order_parameter` of the fractions — one formula for both
  sides). For ``q = 2`` the Potts ``m`` equals ``|2 m_1 − 1|``, so ``⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩`` agree.
* **Moments** ``⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩``; Binder ``U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`` (``2/3`` for a fully
  ordered ensemble, ``→ 0`` for Gaussian ``m`` — exactly ``2/(3N)`` for i.i.d. fair ``q = 2``
  states); susceptibility ``χ = N(⟨m²⟩ − ⟨|m|⟩²)/T``. The *connected* Binder cumulant
  ``U₄ᶜ = 1 − ⟨δm⁴⟩/(3⟨δm²⟩²)``, ``δm = m − ⟨m⟩``, reads the shape of the fluctuations alone
  (``0`` for Gaussian ``m``, ``2/3`` for two equal sharp peaks): with a field (text with a
  fixed share of whitespace, a fitted toy with ``h ≠ 0``) ``⟨m⟩ ≠ 0`` on every scale and the
  plain ``U₄`` only measures ``⟨m⟩²/⟨m²⟩``.
* **Correlation** (Nakaishi, Nishikawa & Hukushima, arXiv 2406.05335), ``Δt = 1 … max_lag``:
  ``C_ab(Δt) = mean_t { E[X_a(t) X_b(t+Δt)] − μ_a(t) μ_b(t+Δt) }``, the mean over the
  ``N − Δt`` pairs of an open sequence (over all ``N`` positions, indices mod ``N``, of a
  periodic one). For a stationary two-state Markov chain with flip probabilities ``α`` (0→1)
  and ``β`` (1→0): ``C_11(Δt) = π_0 π_1 λ^Δt``, ``λ = 1 − α − β``.
* **Integrated correlation** ``τ_ab(N) = N Cov(m_a, m_b)`` across sequences
  ``= Σ_{|r|<N} (1 − |r|/N) C_ab(r)`` for a stationary chain; ``τ = Σ_a τ_aa`` (the trace) is
  the single number the finite-size scaling uses (for ``q = 2``, ``τ = 2 τ_11``).
* **Power spectrum** of the centred indicators,
  ``S_a(k) = (1/N) E |Σ_t (X_a(t) − μ_a(t)) e^{−ikt}|²`` at ``k = 2πj/N``, ``j = 0 … ⌊N/2⌋``,
  and its trace ``S(k) = Σ_a S_a(k)``. ``S_a(0) = τ_aa``.
* **Correlation length** (second-moment definition on a lattice):
  ``ξ = sqrt(S(0)/S(k_min) − 1) / (2 sin(k_min/2))``, ``k_min = 2π/N``, from the trace
  spectrum (``nan`` when ``S(0) < S(k_min)``). For ``C(r) ∝ λ^|r|`` on an infinite chain
  ``ξ = √λ/(1 − λ)``.
* **Decay of the correlation** (:func:`fit_decay`): ``C = Σ_a C_aa`` (the trace) on a fixed
  window ``2 ≤ Δt ≤ N/4`` (stated with every result), at up to 16 log-spaced lags, fitted by
  generalised least squares with the bootstrap covariance of those lags (neighbouring lags are
  strongly correlated) both as a power law ``A Δt^{−η}`` and as an exponential
  ``A e^{−Δt/ξ}``, in linear space (a ``C ≤ 0`` point is data, not dropped). Each fit's
  ``χ²/dof`` is reported and the two are compared by ``ΔAIC = χ²_exp − χ²_pow`` (same number
  of parameters): the power law is *preferred* only when ``ΔAIC ≥ 6``, its own fit is
  acceptable (``p ≥ 0.01``) and its ``η`` lies at least two errors above 0 (a decay the data
  determine), the exponential likewise with ``ξ``; otherwise neither is. ``η`` is reported
  with that verdict, so an exponentially decaying ``C`` gives "no power law preferred" rather
  than a confident exponent.
* **Peak count** of the trace spectrum: the number of ``j ∈ [1, ⌊N/2⌋ − 1]`` where ``S(k_j)``
  is a strict local maximum *and* exceeds the median of its ``±w`` neighbours (``j`` itself
  excluded) by more than ``z`` bootstrap standard errors of ``S(k_j)`` (defaults ``w = 5``,
  ``z = 4``). A smooth spectrum (a Markov chain) has none; a periodic pattern of period ``P``
  gives one at ``k = 2π/P`` and its harmonics.

Errors: a bootstrap over sequences, the independent units. Each replicate draws the units with
replacement and recomputes every statistic from the weighted sums (position means included).
The prefixes of one set of sequences (every size ``N`` cut from the same generations,
:func:`prefix_statistics`) share their resamples, so the replicates of different sizes are
jointly distributed like the estimates and a difference between sizes gets its true error.
Up to ``max_units`` sequences each is a unit; beyond, the sequences are split into
``max_units`` contiguous groups of (nearly) equal size and the groups are resampled — the same
bootstrap of a mean of independent terms, cheaper by ``n / max_units``. Averages that subtract
an ensemble mean carry the factor ``n/(n − 1)``.

Cost: ``O(n q N log N + n q² N)`` once plus ``O(B · max_units · q² L)`` for ``B`` replicates
(``L = max_lag``); measured in ``docs/text_criticality.md``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from phasejax.analysis import distributions as D
from phasejax.analysis.stats import numpy_rng
from phasejax.checks import check_temperatures

NAN = float("nan")
MOMENTS = ("abs_magnetisation", "m2", "m4", "binder", "susceptibility", "binder_connected")


class Estimate(NamedTuple):
    """A statistic and its bootstrap error over sequences."""

    value: object   # float or array: the estimate from all sequences
    error: object   # same shape: bootstrap standard error


class SequenceStatistics(NamedTuple):
    """Every statistic of :func:`sequence_statistics` (module docstring), with errors."""

    N: int                    # sites per sequence
    q: int                    # number of states
    n_sequences: int          # sequences used
    T: float                  # temperature (enters χ only)
    fractions: Estimate       # (q,) E[m_a]
    magnetisation: Estimate   # () E[m]: signed Ising m for q = 2, Potts m for q > 2
    moments: dict             # name in MOMENTS -> Estimate ()
    lags: np.ndarray          # (L,) Δt = 1 … max_lag
    correlation: Estimate     # (q, q, L) C_ab(Δt)
    tau: Estimate             # (q, q) τ_ab = N Cov(m_a, m_b)
    tau_trace: Estimate       # () τ = Σ_a τ_aa
    k: np.ndarray             # (K,) 2πj/N, j = 0 … N//2
    spectrum: Estimate        # (q, K) S_a(k)
    xi: Estimate              # () second-moment correlation length
    eta: Estimate             # () decay exponent of the trace correlation (see decay)
    eta_window: tuple         # (lo, hi) lags of the decay fits
    peak_count: Estimate      # () significant local maxima of the trace spectrum
    decay: "DecayFit"         # power law against exponential for the trace correlation
    replicates: dict          # scalar observable -> (B,) bootstrap replicates (see
    #                           prefix_statistics: shared resamples across sizes)


# ----------------------------------------------------------------------------- per sequence
def _check(y, q: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 2 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be an (n_sequences, N) integer array; got shape {y.shape} "
                         f"and dtype {y.dtype}")
    if q < 2:
        raise ValueError(f"need q >= 2 states; got q={q}")
    if y.size and (y.min() < 0 or y.max() >= q):
        raise ValueError(f"states must lie in [0, {q}); found [{y.min()}, {y.max()}]")
    return y


def _check_T(T):
    check_temperatures([T], name="T (χ = N(⟨m²⟩ − ⟨|m|⟩²)/T)")


def state_fractions(y, *, q: int) -> np.ndarray:
    """``(n, q)`` fraction ``m_a`` of the sites in state ``a``, per sequence."""
    y = _check(y, q)
    n, N = y.shape
    flat = (y + q * np.arange(n)[:, None]).ravel()
    return np.bincount(flat, minlength=n * q).reshape(n, q) / N


def potts_m(y, *, q: int) -> np.ndarray:
    """``(n,)`` Potts order parameter ``(q max_a m_a − 1)/(q − 1)`` of each sequence."""
    return np.asarray(D.order_parameter(state_fractions(y, q=q)), np.float64)


def magnetisation(y, *, q: int) -> np.ndarray:
    """``(n,)`` order parameter per sequence: ``2 m_1 − 1`` for ``q = 2``, else :func:`potts_m`."""
    if q == 2:
        return 2.0 * state_fractions(y, q=2)[:, 1] - 1.0
    return potts_m(y, q=q)


# ----------------------------------------------------------------------------- bootstrap
def _resample(rng, G: int, B: int) -> np.ndarray:
    """``(B, G)`` multiplicities of ``G`` units drawn ``G`` times with replacement."""
    idx = rng.integers(0, G, size=(B, G))
    return np.stack([np.bincount(r, minlength=G) for r in idx]).astype(np.float64)


def _moments(S: np.ndarray, N: int, T: float) -> dict:
    """Moments from weighted means ``S[..., :]`` of ``(m, |m|, m², m⁴, m³)``."""
    mu, am, m2, m4, m3 = S[..., 0], S[..., 1], S[..., 2], S[..., 3], S[..., 4]
    c2 = m2 - mu * mu
    c4 = m4 - 4.0 * mu * m3 + 6.0 * mu * mu * m2 - 3.0 * mu**4
    with np.errstate(invalid="ignore", divide="ignore"):
        binder, connected = D.binder(m2, m4), D.binder(c2, c4)
    return dict(abs_magnetisation=am, m2=m2, m4=m4, binder=binder,
                susceptibility=D.susceptibility(m2, am, N=N, T=T), binder_connected=connected)


def _nanstd(v: np.ndarray) -> np.ndarray:
    """Standard deviation over replicates (axis 0) of the finite ones (``nan`` if < 2)."""
    import warnings

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(v, axis=0, ddof=1)


def _powers(m: np.ndarray) -> np.ndarray:
    return np.stack([m, np.abs(m), m**2, m**4, m**3], -1)


def moment_bootstrap(key, m, *, N: int, T: float = 1.0, n_boot: int = 200, units=None):
    """``(value, replicates)``: ``{name: float}`` and ``{name: (n_boot,)}`` of the moments
    (:data:`MOMENTS`) of samples ``m`` of the order parameter.

    ``key``: a JAX PRNG key that fixes the bootstrap. ``units``: an integer label per sample
    (e.g. the Markov chain it came from); the bootstrap then redraws whole units, as it must
    when samples within a unit are correlated. Default: every sample is a unit.
    """
    _check_T(T)
    m = np.asarray(m, np.float64).ravel()
    P = _powers(m)
    value = _moments(P.mean(0), N, T)
    if units is None:
        units = np.arange(m.size)
    _, g = np.unique(np.asarray(units).ravel(), return_inverse=True)
    sums = np.zeros((g.max() + 1, P.shape[1]))
    np.add.at(sums, g, P)
    counts = np.bincount(g).astype(np.float64)
    w = _resample(numpy_rng(key), counts.size, n_boot)
    boots = _moments((w @ sums) / (w @ counts)[:, None], N, T)
    return {k: float(value[k]) for k in MOMENTS}, {k: np.asarray(boots[k]) for k in MOMENTS}


def moment_statistics(key, m, *, N: int, T: float = 1.0, n_boot: int = 200) -> dict:
    """``{name: Estimate}`` for ``⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩, U₄, χ`` of per-sequence samples ``m``
    (:func:`moment_bootstrap`): for callers that hold only the order parameter of each
    sequence."""
    value, boots = moment_bootstrap(key, m, N=N, T=T, n_boot=n_boot)
    return {k: Estimate(value[k], float(_nanstd(boots[k]))) for k in MOMENTS}


def moment_rows(key, m, *, N: int, T: float, n_boot: int = 200) -> list[dict]:
    """:func:`moment_statistics` as tidy rows over all prompts (``prompt="all"``, ``L``, ``T``,
    ``observable``, ``mean``, ``stderr``): a sequence task's rows as
    :mod:`phasejax.fit.sequence` reads them."""
    return [dict(prompt="all", L=int(N), T=float(T), observable=o, mean=v, stderr=e)
            for o, (v, e) in moment_statistics(key, m, N=N, T=T, n_boot=n_boot).items()]


# ----------------------------------------------------------------------------- sums
class _Sums(NamedTuple):
    n: np.ndarray       # (G,) sequences per unit
    mom: np.ndarray     # (G, 4) Σ (m, |m|, m², m⁴)
    frac: np.ndarray    # (G, q) Σ m_a
    frac2: np.ndarray   # (G, q, q) Σ m_a m_b
    pos: np.ndarray     # (G, q, N) Σ X_a(t)
    lag: np.ndarray     # (G, q, q, L+1) Σ Σ_t X_a(t) X_b(t+Δt), Δt = 0 … L
    power: np.ndarray   # (G, q, K) Σ |Σ_t X_a(t) e^{-ikt}|²


def _nfft(N: int, L: int, periodic: bool) -> int:
    from scipy.fft import next_fast_len

    return N if periodic else next_fast_len(N + L)


def _lagged(F: np.ndarray, nfft: int, L: int) -> np.ndarray:
    """``Σ_t x_a(t) x_b(t+Δt)`` for ``Δt = 0 … L`` from ``F = rfft(x, nfft)`` (``(..., q, K)``):
    ``(..., q, q, L+1)``."""
    cross = np.conj(F)[..., :, None, :] * F[..., None, :, :]
    return np.fft.irfft(cross, n=nfft, axis=-1)[..., :L + 1]


def _unit_sums(y, q: int, L: int, periodic: bool, max_units: int) -> _Sums:
    n, N = y.shape
    G = min(n, max_units)
    nfft = _nfft(N, L, periodic)
    states = np.arange(q)[:, None]
    m = magnetisation(y, q=q)
    f = state_fractions(y, q=q)
    out = {k: [] for k in _Sums._fields}
    for idx in np.array_split(np.arange(n), G):
        X = (y[idx][:, None, :] == states).astype(np.float64)          # (s, q, N)
        Fp = np.fft.rfft(X, n=nfft, axis=-1)                            # (s, q, K')
        A = Fp.transpose(2, 1, 0)                                        # (K', q, s)
        cross = np.matmul(np.conj(A), A.transpose(0, 2, 1))              # (K', q, q)
        out["lag"].append(np.fft.irfft(np.moveaxis(cross, 0, -1), n=nfft, axis=-1)[..., :L + 1])
        Fn = Fp if periodic else np.fft.rfft(X, axis=-1)
        out["power"].append(np.sum(np.abs(Fn) ** 2, 0))
        out["pos"].append(X.sum(0))
        out["n"].append(float(idx.size))
        out["mom"].append(_powers(m[idx]).sum(0))
        out["frac"].append(f[idx].sum(0))
        out["frac2"].append(np.einsum("sa,sb->ab", f[idx], f[idx]))
    return _Sums(*(np.asarray(out[k]) for k in _Sums._fields))


def _derived(sums: _Sums, w: np.ndarray, N: int, T: float, L: int, periodic: bool) -> dict:
    """Every statistic for each row of unit weights ``w`` (``(B, G)``)."""
    W = w @ sums.n                                                       # (B,)
    mean = lambda a: np.tensordot(w, a, axes=(1, 0)) / W.reshape((-1,) + (1,) * (a.ndim - 1))
    unbias = (W / (W - 1.0))
    mom = mean(sums.mom)
    out = dict(_moments(mom, N, T))
    out["magnetisation"] = mom[:, 0]
    fr = mean(sums.frac)
    out["fractions"] = fr
    out["tau"] = N * unbias[:, None, None] * (mean(sums.frac2) - fr[:, :, None] * fr[:, None, :])
    out["tau_trace"] = np.trace(out["tau"], axis1=1, axis2=2)
    nfft = _nfft(N, L, periodic)
    mu = mean(sums.pos)                                                  # (B, q, N)
    lagged = mean(sums.lag)
    corr, spec = [], []
    for b0 in range(0, mu.shape[0], 16):                                 # bounded memory
        F = np.fft.rfft(mu[b0:b0 + 16], n=nfft, axis=-1)
        corr.append(lagged[b0:b0 + 16] - _lagged(F, nfft, L))
        Fn = F if periodic else np.fft.rfft(mu[b0:b0 + 16], axis=-1)
        spec.append(np.abs(Fn) ** 2)
    pairs = N if periodic else (N - np.arange(1, L + 1))
    out["correlation"] = (unbias[:, None, None, None] * np.concatenate(corr)[..., 1:] / pairs)
    out["spectrum"] = unbias[:, None, None] * (mean(sums.power) - np.concatenate(spec)) / N
    S = out["spectrum"].sum(1)                                           # (B, K)
    kmin = 2 * np.pi / N
    with np.errstate(invalid="ignore", divide="ignore"):
        out["xi"] = np.sqrt(S[:, 0] / S[:, 1] - 1.0) / (2 * np.sin(kmin / 2))
    return out


# ----------------------------------------------------------------------------- decay, peaks
DECAY_WINDOW = (2, 0.25)        # Δt from 2 to N/4
MAX_DECAY_LAGS = 16
DELTA_AIC = 6.0                 # evidence needed to prefer one decay over the other
MIN_FIT_P = 0.01                # a preferred fit must itself be acceptable
# ... and determine a decay: η (or ξ) at least this many errors above 0. A correlation that
# vanishes beyond the first lags fits any fast decay (η = 30 ± 1.4·10⁵ was "preferred" where
# the exponential's fit had failed); that is no law of decay
DECAY_RESOLVED_Z = 2.0


class DecayFit(NamedTuple):
    """Power law against exponential for a correlation function (:func:`fit_decay`)."""

    eta: float            # C ∝ Δt^-η
    eta_err: float
    xi: float             # C ∝ exp(-Δt/ξ)
    xi_err: float
    chi2_dof_power: float
    chi2_dof_exp: float
    dof: int
    delta_aic: float      # AIC(exponential) − AIC(power law): > 0 favours the power law
    preferred: str        # "power_law", "exponential" or "neither"
    window: tuple         # (lo, hi) lags of the fit
    lags: tuple           # the lags used


def decay_window(N: int) -> tuple:
    """The fixed lag window of the decay fits, ``(2, N/4)``."""
    return (DECAY_WINDOW[0], max(DECAY_WINDOW[0] + 1, int(N * DECAY_WINDOW[1])))


def _decay_lags(window, L: int, n_reps: int) -> np.ndarray:
    lo, hi = int(window[0]), min(int(window[1]), L)
    k = max(2, min(MAX_DECAY_LAGS, n_reps // 5, hi - lo + 1))
    return np.unique(np.round(np.geomspace(lo, hi, k)).astype(int)) if hi > lo else \
        np.arange(lo, hi + 1)


def _gls(model, t, y, Linv, p0):
    from scipy import optimize

    res = optimize.least_squares(lambda p: Linv @ (y - model(t, p)), p0, method="lm",
                                 max_nfev=2000)
    chi2 = float(res.fun @ res.fun)
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac)
    except np.linalg.LinAlgError:
        cov = np.full((len(p0), len(p0)), NAN)
    return res.x, cov, chi2


def fit_decay(*, lags, C, C_replicates, window) -> DecayFit:
    """Fit ``C(Δt)`` on ``window`` as a power law and as an exponential (module docstring).

    Args:
      lags: ``(L,)`` lags ``1 … L``.
      C: ``(L,)`` the correlation.
      C_replicates: ``(B, L)`` bootstrap replicates of ``C`` (their covariance weights the fits).
      window: ``(lo, hi)`` lags.
    """
    from scipy import stats as sstats

    lags, C = np.asarray(lags, float), np.asarray(C, float)
    reps = np.asarray(C_replicates, float)
    t = _decay_lags(window, int(lags[-1]), reps.shape[0])
    idx = t - int(lags[0])
    nan = DecayFit(NAN, NAN, NAN, NAN, NAN, NAN, 0, NAN, "neither", tuple(window),
                   tuple(int(x) for x in t))
    ok = np.all(np.isfinite(reps[:, idx]), axis=1)
    if t.size < 3 or ok.sum() < t.size + 2 or not np.all(np.isfinite(C[idx])):
        return nan
    y = C[idx]
    S = np.cov(reps[ok][:, idx], rowvar=False)
    S = 0.9 * S + 0.1 * np.diag(np.diag(S))           # shrink: few replicates per lag pair
    try:
        Linv = np.linalg.inv(np.linalg.cholesky(S))
    except np.linalg.LinAlgError:
        return nan
    pos = y > 0
    tt = t.astype(float)
    if pos.sum() >= 2:
        a, b = np.polyfit(np.log(tt[pos]), np.log(y[pos]), 1)
        c, d = np.polyfit(tt[pos], np.log(y[pos]), 1)
        p_pow, p_exp = [np.exp(b), -a], [np.exp(d), -1.0 / c if c < 0 else tt[-1]]
    else:
        p_pow, p_exp = [max(y[0], 1e-6), 1.0], [max(y[0], 1e-6), tt[0]]
    power = lambda x, p: p[0] * x ** -p[1]
    expo = lambda x, p: p[0] * np.exp(-x / p[1])
    (A, eta), cov_p, chi_p = _gls(power, tt, y, Linv, p_pow)
    (B, xi), cov_e, chi_e = _gls(expo, tt, y, Linv, p_exp)
    dof = t.size - 2
    err = lambda cov, chi2: float(np.sqrt(cov[1, 1] * max(1.0, chi2 / dof))) \
        if np.isfinite(cov[1, 1]) and cov[1, 1] >= 0 else NAN
    pp, pe = sstats.chi2.sf(chi_p, dof), sstats.chi2.sf(chi_e, dof)
    daic = chi_e - chi_p
    eta_err, xi_err = err(cov_p, chi_p), err(cov_e, chi_e)
    preferred = ("power_law" if daic >= DELTA_AIC and pp >= MIN_FIT_P
                 and eta >= DECAY_RESOLVED_Z * eta_err else
                 "exponential" if daic <= -DELTA_AIC and pe >= MIN_FIT_P
                 and xi >= DECAY_RESOLVED_Z * xi_err else "neither")
    return DecayFit(float(eta), eta_err, float(xi), xi_err, chi_p / dof,
                    chi_e / dof, dof, float(daic), preferred, tuple(window),
                    tuple(int(x) for x in t))


def count_peaks(*, S, S_err, halfwidth: int = 5, z: float = 4.0):
    """Significant local maxima of a spectrum ``S`` (``(..., K)``, ``k_j = 2πj/N``): ``j`` in
    ``[1, K − 2]`` with ``S_j > S_{j±1}`` and ``S_j − median(S_{j−w … j+w} without j) >
    z·S_err_j`` (the window is cut at the ends). Returns an int array of shape ``(...)``."""
    from numpy.lib.stride_tricks import sliding_window_view

    S, S_err = np.asarray(S, float), np.asarray(S_err, float)
    w = int(halfwidth)
    pad = np.pad(S, [(0, 0)] * (S.ndim - 1) + [(w, w)], constant_values=np.nan)
    win = sliding_window_view(pad, 2 * w + 1, axis=-1)                  # (..., K, 2w+1)
    nb = np.delete(win, w, axis=-1)
    with np.errstate(invalid="ignore"):
        background = np.nanmedian(nb, axis=-1)
    mid = S[..., 1:-1]
    peak = ((mid > S[..., :-2]) & (mid > S[..., 2:])
            & (mid - background[..., 1:-1] > z * S_err[..., 1:-1]))
    return peak.sum(-1)


# ----------------------------------------------------------------------------- entry points
SCALARS = MOMENTS + ("magnetisation", "tau_trace", "xi")


def _check_args(y, q, T, max_lag):
    y = _check(y, q)
    _check_T(T)
    n, N = y.shape
    if n < 2 or N < 2:
        raise ValueError(f"need at least 2 sequences of at least 2 sites; got shape {y.shape}")
    L = N // 2 if max_lag is None else int(max_lag)
    if not 1 <= L <= N - 1:
        raise ValueError(f"max_lag must lie in [1, {N - 1}]; got {max_lag}")
    return y, L


def _assemble(sums, w, *, N, q, n, T, L, periodic, window, peak_halfwidth, peak_z):
    G = sums.n.size
    full = {k: v[0] for k, v in _derived(sums, np.ones((1, G)), N, T, L, periodic).items()}
    boot = _derived(sums, w, N, T, L, periodic)
    err = {k: _nanstd(v) for k, v in boot.items()}
    est = {k: Estimate(full[k], err[k]) for k in full}
    lags = np.arange(1, L + 1)
    C_tr = np.trace(full["correlation"])
    C_reps = np.trace(boot["correlation"], axis1=1, axis2=2)
    decay = fit_decay(lags=lags, C=C_tr, C_replicates=C_reps, window=window)
    S, S_err = full["spectrum"].sum(0), boot["spectrum"].sum(1).std(0, ddof=1)
    peaks = count_peaks(S=S, S_err=S_err, halfwidth=peak_halfwidth, z=peak_z)
    peaks_b = count_peaks(S=boot["spectrum"].sum(1), S_err=S_err, halfwidth=peak_halfwidth,
                          z=peak_z)
    scalar = lambda e: Estimate(float(e.value), float(e.error))
    return SequenceStatistics(
        N=N, q=q, n_sequences=n, T=float(T), fractions=est["fractions"],
        magnetisation=scalar(est["magnetisation"]),
        moments={k: scalar(est[k]) for k in MOMENTS}, lags=lags,
        correlation=est["correlation"], tau=est["tau"], tau_trace=scalar(est["tau_trace"]),
        k=2 * np.pi * np.arange(N // 2 + 1) / N, spectrum=est["spectrum"], xi=scalar(est["xi"]),
        eta=Estimate(decay.eta, decay.eta_err), eta_window=tuple(window),
        peak_count=Estimate(float(peaks), float(np.std(peaks_b, ddof=1))), decay=decay,
        replicates={k: np.asarray(boot[k], np.float64) for k in SCALARS})


def sequence_statistics(key, y, *, q: int, T: float = 1.0, max_lag: Optional[int] = None,
                        periodic: bool = False, n_boot: int = 200, max_units: int = 256,
                        eta_window: Optional[tuple] = None, peak_halfwidth: int = 5,
                        peak_z: float = 4.0) -> SequenceStatistics:
    """Every statistic of the module docstring, with bootstrap errors over sequences.

    Args:
      key: JAX PRNG key; fixes the bootstrap.
      y: ``(n, N)`` integer states in ``[0, q)``; ``n ≥ 2`` independent sequences.
      q: number of states.
      T: temperature the sequences were generated at (``χ = N(⟨m²⟩ − ⟨|m|⟩²)/T``).
      max_lag: largest ``Δt`` of ``C_ab`` (default ``N // 2``).
      periodic: the sequences are rings (a toy lattice) rather than open chains.
      n_boot: bootstrap replicates.
      max_units: most bootstrap units; more sequences are grouped into this many.
      eta_window: ``(lo, hi)`` lags of the decay fits (default :func:`decay_window`).
      peak_halfwidth, peak_z: ``w`` and ``z`` of the peak count.

    Example::

      y = (np.random.default_rng(0).random((1000, 64)) < 0.5).astype(int)
      st = sequence_statistics(jax.random.key(0), y, q=2)
      st.moments["binder"]          # Estimate(value≈2/(3·64), error≈0.03)
    """
    return prefix_statistics(key, y, (np.shape(y)[-1],), q=q, T=T, max_lag=max_lag,
                             periodic=periodic, n_boot=n_boot, max_units=max_units,
                             eta_window=eta_window, peak_halfwidth=peak_halfwidth,
                             peak_z=peak_z)[0]


def prefix_statistics(key, y, sizes, *, q: int, T: float = 1.0, max_lag: Optional[int] = None,
                      periodic: bool = False, n_boot: int = 200, max_units: int = 256,
                      eta_window: Optional[tuple] = None, peak_halfwidth: int = 5,
                      peak_z: float = 4.0) -> list:
    """:func:`sequence_statistics` of the first ``N`` sites of every sequence, for each ``N`` in
    ``sizes``, with **one** set of bootstrap resamples of the sequences for all sizes.

    The prefixes of generated sequences are samples of every shorter length, and all sizes are
    then made of the same sequences: their replicates (``SequenceStatistics.replicates``) are
    drawn jointly, as :mod:`phasejax.analysis.decisions` needs for differences between sizes.
    ``max_lag`` (default ``N // 2``) and ``eta_window`` (default :func:`decay_window`) apply
    per size; ``periodic`` needs a single size (a ring's prefix is not a ring).
    """
    y = _check(y, q)
    sizes = [int(N) for N in sizes]
    if not sizes or min(sizes) < 2 or max(sizes) > y.shape[1]:
        raise ValueError(f"sizes {sizes} must lie in [2, {y.shape[1]}] (the sequence length)")
    if periodic and sizes != [y.shape[1]]:
        raise ValueError("periodic statistics take the whole ring (one size, N = its length)")
    n = y.shape[0]
    G = min(n, max_units)
    w = _resample(numpy_rng(key), G, n_boot) if n >= 2 else None
    out = []
    for N in sizes:
        yN, L = _check_args(y[:, :N], q, T, None if max_lag is None else min(max_lag, N - 1))
        window = decay_window(N) if eta_window is None else tuple(eta_window)
        sums = _unit_sums(yN, q, L, periodic, max_units)
        out.append(_assemble(sums, w, N=N, q=q, n=n, T=T, L=L, periodic=periodic,
                             window=window, peak_halfwidth=peak_halfwidth, peak_z=peak_z))
    return out


def statistics_rows(stats: SequenceStatistics, *, curves: bool = False, **labels) -> list[dict]:
    """Tidy rows, one per observable: ``L`` (= ``N``), ``T``, ``observable``, ``mean``,
    ``stderr``, ``n_samples`` (sequences) plus ``labels``.

    Observables: the moments (:data:`MOMENTS`), ``magnetisation``, ``fraction_a``,
    ``tau_a_b`` (``a ≤ b``), ``tau`` (the trace ``Σ_a τ_aa``), ``xi``, ``eta``, ``peak_count``,
    and the decay comparison (:func:`fit_decay`): ``decay_length`` (the exponential's ``ξ``),
    ``decay_delta_aic`` (``> 0`` favours the power law), ``eta_chi2_dof``,
    ``decay_length_chi2_dof``.
    With ``curves=True`` also ``C_a_b`` with a ``lag`` column and ``spectrum_a`` with a ``k``
    column.
    """
    base = dict(labels, L=stats.N, T=stats.T)
    n = stats.n_sequences
    row = lambda name, v, e, **kw: dict(base, observable=name, mean=float(v), stderr=float(e),
                                        n_samples=n, **kw)
    rows = [row(k, *stats.moments[k]) for k in MOMENTS]
    rows.append(row("magnetisation", *stats.magnetisation))
    q = stats.q
    rows += [row(f"fraction_{a}", stats.fractions.value[a], stats.fractions.error[a])
             for a in range(q)]
    tv, te = stats.tau
    rows += [row(f"tau_{a}_{b}", tv[a, b], te[a, b]) for a in range(q) for b in range(a, q)]
    rows.append(row("tau", *stats.tau_trace))
    d = stats.decay
    rows += [row("xi", *stats.xi), row("eta", *stats.eta), row("peak_count", *stats.peak_count),
             row("decay_length", d.xi, d.xi_err), row("decay_delta_aic", d.delta_aic, 0.0),
             row("eta_chi2_dof", d.chi2_dof_power, 0.0),
             row("decay_length_chi2_dof", d.chi2_dof_exp, 0.0)]
    if curves:
        cv, ce = stats.correlation
        rows += [row(f"C_{a}_{b}", cv[a, b, i], ce[a, b, i], lag=int(d))
                 for a in range(q) for b in range(q) for i, d in enumerate(stats.lags)]
        sv, se = stats.spectrum
        rows += [row(f"spectrum_{a}", sv[a, j], se[a, j], k=float(k))
                 for a in range(q) for j, k in enumerate(stats.k)]
    return rows

