"""Pseudo-likelihood fit of a long-range Potts chain to token sequences.

A sequence ``s_1..s_N`` of tokens in ``{0..q-1}`` is modelled as a Potts chain with couplings
``J_r`` at distance ``r = 1..R`` and a field ``h``, in units where ``T = 1`` (the fitted values
are ``βJ_r`` and ``βh``; :mod:`toy_models.long_range_chain` simulates them at ``T = 1``). The
single-site conditionals are

.. math:: \\ln P(s_i = a \\mid s_{\\setminus i}) = φ_i(a) - \\ln \\sum_c e^{φ_i(c)},
          \\qquad φ_i(a) = h_a + \\sum_{r=1}^{R} J_r\\,[δ(a, s_{i-r}) + δ(a, s_{i+r})],

where a term is present only if ``i ± r`` lies inside the sequence (open ends: generated text
is not periodic) or, with ``periodic=True``, is taken modulo ``N`` (a ring, as the toy lattice).
Pseudo-likelihood maximises ``Σ_i ln P(s_i | s_∖i)`` over all sites of all sequences; it is
consistent (Besag 1975) and, for the free form, convex. Gauge: ``h_0 = 0`` (shifting every
``h_a`` changes nothing); δ couplings have no further freedom.

**The start.** Generated text begins after a fixed start (a beginning-of-sequence token or a
prompt), which pulls its first sites. With ``start_field=True`` the first site carries an extra
field ``f`` (gauge ``f_0 = 0``), ``φ_1(a) += f_a``: an open chain with the text's boundary, which
:func:`toy_models.long_range_chain.open_chain` simulates.

Two forms:

* ``"free"``: every ``J_r`` is a parameter, with an optional penalty ``l2 Σ_r J_r²`` added to the
  mean negative log pseudo-likelihood per site;
* ``"power_law"``: ``J_r = A r^{-(1+σ)}`` with parameters ``(A, σ)`` (started from a free fit
  of the first ``min(R, 16)`` couplings).

**Computation.** With ``x_a(j) = δ(a, s_j)`` (zero outside the sequence), the field is a
convolution, ``φ_a = h_a + x_a * k`` with the symmetric kernel ``k(±r) = J_r``, done with FFTs
of length ``M ≥ N + R`` (open; zero padding keeps the ends from wrapping) or ``M = N``
(periodic). The transforms of the data are computed once, so an objective evaluation costs one
inverse FFT per sequence and token, ``O(n q M log M)`` whatever ``R``; the gradient comes from
``jax.grad`` (a correlation, by the same FFTs). Sequences are processed in chunks of bounded
memory; scipy's L-BFGS-B minimises the sum (its cost is measured in ``docs/text_criticality.md``).

**Errors.** Sequences are the independent units: a bootstrap redraws ``n`` sequences with
replacement (as multinomial weights, so nothing is recompiled), refits, and reports the standard
deviation of each parameter over the redraws. The power law is fitted by L-BFGS-B and then
Newton's method with the exact Hessian, and its refits are Newton iterations from the full-data
optimum (:func:`_newton`): L-BFGS-B stops where the float32 objective no longer resolves its
line search, which along a nearly flat direction (``σ`` as ``A → 0``) is far from the optimum,
and its refits would not move there. A free fit (convex, many parameters) is refitted by
L-BFGS-B from the full-data optimum.

Negative tokens mark padding: absent sites (ragged sequences padded to one length).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import fft as sfft
from scipy import optimize

from phasejax.lattice.model import power_law

FORMS = ("free", "power_law")
_INIT_RANGE = 16


class LongRangeFit(NamedTuple):
    """Result of :func:`fit_long_range` (couplings and fields in units of ``T``)."""

    J_r: np.ndarray        # (R,) float64: βJ_r for r = 1..R
    J_r_err: np.ndarray    # (R,) float64: bootstrap standard errors (nan without bootstrap)
    h: np.ndarray          # (q,) float64: βh, gauge h[0] = 0
    h_err: np.ndarray      # (q,) float64
    A: float               # power-law amplitude (nan for form="free")
    A_err: float
    sigma: float           # power-law exponent σ in J_r = A r^-(1+σ) (nan for form="free")
    sigma_err: float       # inf where σ > SIGMA_NEAREST (only bounded from below)
    start: np.ndarray      # (q,) float64: βf on the first site, gauge f[0] = 0 (zeros unless
    #                        fitted with start_field=True)
    start_err: np.ndarray  # (q,) float64
    neg_log_pl: float      # mean -ln P(s_i | rest) per site at the optimum, penalty excluded
    draws: np.ndarray      # (n_bootstrap, 2) (A, σ) of each bootstrap refit (power law; else
    #                        (0, 2)): their joint spread, for derived quantities
    n_sequences: int
    n_sites: int           # sites that entered the fit (padding excluded)
    form: str
    periodic: bool
    l2: float


def _kernel(J, M: int):
    """Circular kernel of length ``M``: ``k(r) = k(M - r) = J_r`` for ``r = 1..R``, else 0."""
    R = J.shape[0]
    return jnp.zeros(M, J.dtype).at[1:R + 1].set(J).at[M - R:].set(J[::-1])


def _params(theta, *, form: str, R: int, q: int, start: bool = False):
    """``(J, h, f)`` from the parameter vector (free: ``J, h_1.., [f_1..]``; power law:
    ``A, σ, h_1.., [f_1..]``); ``f`` is the first site's extra field (zeros without ``start``)."""
    if form == "free":
        J, rest = theta[:R], theta[R:]
    else:
        r = jnp.arange(1, R + 1, dtype=theta.dtype)
        J, rest = power_law(r, theta[0], theta[1]), theta[2:]
    zero = jnp.zeros(1, theta.dtype)
    h = jnp.concatenate([zero, rest[:q - 1]])
    f = jnp.concatenate([zero, rest[q - 1:2 * q - 2]]) if start else jnp.zeros(q, theta.dtype)
    return J, h, f


def _chunk_nll(theta, Xhat, tokens, weights, *, form, R, q, N, M, start=False):
    """Weighted sum of ``-ln P(s_i | rest)`` over the present sites of one chunk."""
    J, h, f = _params(theta, form=form, R=R, q=q, start=start)
    Khat = jnp.fft.rfft(_kernel(J, M))
    phi = jnp.fft.irfft(Xhat * Khat[None, None, :], n=M, axis=-1)[..., :N]   # (B, q, N)
    phi = phi + h[None, :, None]
    phi = phi.at[:, :, 0].add(f[None, :])
    logp = phi - jax.nn.logsumexp(phi, axis=1, keepdims=True)
    ll = jnp.take_along_axis(logp, jnp.maximum(tokens, 0)[:, None, :], axis=1)[:, 0, :]
    ll = jnp.where(tokens >= 0, ll, jnp.float32(0.0))
    return -jnp.sum(weights * jnp.sum(ll, axis=1))


@functools.lru_cache(maxsize=None)
def _value_and_grad(form, R, q, N, M, start):
    return jax.jit(jax.value_and_grad(functools.partial(_chunk_nll, form=form, R=R, q=q, N=N,
                                                        M=M, start=start)))


@functools.lru_cache(maxsize=None)
def _hessian(form, R, q, N, M, start):
    return jax.jit(jax.hessian(functools.partial(_chunk_nll, form=form, R=R, q=q, N=N, M=M,
                                                 start=start)))


class _Objective:
    """Mean negative log pseudo-likelihood per site (+ penalty) over chunked data."""

    def __init__(self, tokens: np.ndarray, q: int, R: int, periodic: bool, chunk_elements: int,
                 start: bool = False):
        n, N = tokens.shape
        self.q, self.R, self.N, self.start = q, R, N, start
        self.M = N if periodic else sfft.next_fast_len(N + R, real=True)
        B = int(max(1, min(n, chunk_elements // (q * self.M))))
        n_chunks = -(-n // B)
        pad = n_chunks * B - n
        tok = np.concatenate([tokens, np.full((pad, N), -1, tokens.dtype)]).astype(np.int32)
        self.present = (tokens >= 0).sum(1).astype(np.float64)       # (n,) sites per sequence
        self.n, self.B, self.pad = n, B, pad
        onehot = jax.jit(lambda t: jnp.fft.rfft(
            jnp.swapaxes(jax.nn.one_hot(t, q, dtype=jnp.float32), 1, 2), n=self.M, axis=-1))
        self.chunks = []
        for c in range(n_chunks):
            t = jnp.asarray(tok[c * B:(c + 1) * B])
            self.chunks.append((onehot(t), t))

    def _per_chunk(self, fn, theta, weights):
        """``fn(θ, chunk)`` of every chunk under the weights (float32 on the device)."""
        w = np.concatenate([weights, np.zeros(self.pad)]).astype(np.float32)
        th = jnp.asarray(theta, jnp.float32)
        for c, (Xhat, tok) in enumerate(self.chunks):
            yield fn(th, Xhat, tok, jnp.asarray(w[c * self.B:(c + 1) * self.B]))

    def __call__(self, theta, weights, *, form: str, l2: float):
        fn = _value_and_grad(form, self.R, self.q, self.N, self.M, self.start)
        value, grad = 0.0, np.zeros(theta.size)
        for v, g in self._per_chunk(fn, theta, weights):
            value += float(v)
            grad += np.asarray(g, np.float64)
        total = float(np.dot(weights, self.present))
        value, grad = value / total, grad / total
        if form == "free" and l2 > 0:
            J = theta[:self.R]
            value += l2 * float(J @ J)
            grad[:self.R] += 2 * l2 * J
        return value, grad

    def hessian(self, theta, weights, *, form: str) -> np.ndarray:
        """The objective's Hessian (no penalty; exact, by forward-over-reverse)."""
        fn = _hessian(form, self.R, self.q, self.N, self.M, self.start)
        H = sum(np.asarray(h, np.float64) for h in self._per_chunk(fn, theta, weights))
        H = H / float(np.dot(weights, self.present))
        return 0.5 * (H + H.T)


def _minimise(objective, theta0, weights, *, form, l2, max_iter):
    # float32 objective: ftol below its resolution lets L-BFGS-B stop on a failed line search
    # at the optimum, which is fine; the statistical errors are orders of magnitude larger.
    res = optimize.minimize(lambda t: objective(t, weights, form=form, l2=l2), theta0, jac=True,
                            method="L-BFGS-B",
                            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-7})
    return res.x


# a Newton step moves σ by at most this much: along a direction where the pseudo-likelihood is
# flat (A → 0) the step diverges, and any spread this wide already says that σ is not determined
SIGMA_STEP = 5.0
# beyond this σ the couplings past r = 1 are below the float32 objective's resolution
# (J_2/J_1 = 2^-(1+σ) < 2^-24): the fit is a nearest-neighbour chain, σ is bounded from below
# only, and refits cannot move it (its gradient vanishes), so its error is reported as inf
SIGMA_NEAREST = 23.0


def _inverse(H: np.ndarray) -> np.ndarray:
    """``|H|⁻¹``: eigenvalues in absolute value, floored at ``10⁻¹²`` of the largest."""
    lam, V = np.linalg.eigh(H)
    lam = np.abs(lam)
    # far below a float32 Hessian's resolution on purpose: σ's curvature as A → 0 lies below
    # 1e-7 of the largest, and flooring it there capped the refits' steps (a σ spread of 0.001
    # where the sampling width is 0.63)
    lam = np.maximum(lam, 1e-12 * max(float(lam.max()), 1e-30))
    return (V / lam) @ V.T


def _newton(obj: "_Objective", theta: np.ndarray, weights: np.ndarray, *, form: str,
            Hinv: np.ndarray | None = None, max_iter: int = 20,
            tol: float = 1e-13) -> np.ndarray:
    """Newton iterations on the (unpenalised) objective from ``theta``, with the exact Hessian.

    The steps are ``−|H|⁻¹ g`` (:func:`_inverse`), scaled down as a whole where ``σ``'s part
    exceeds ±:data:`SIGMA_STEP`, halved while the objective is not finite or rises beyond its
    float32 resolution. They stop when the Newton decrement ``gᵀ|H|⁻¹g`` falls below ``tol``, or
    where no step is accepted or the Hessian is not finite; the point reached is returned. With
    ``Hinv`` given, the first step uses it (a bootstrap refit reuses
    the full-data optimum's). Every later step needs the exact Hessian: with the full-data one
    throughout, the iteration contracts slowly along a flat direction, where the redrawn curvature
    differs most, and stopped short of the refit's optimum (``σ``'s spread a factor 2 too small).

    L-BFGS-B stops where the float32 objective no longer resolves its line search. Along a
    direction in which the pseudo-likelihood is nearly flat (``σ`` as ``A → 0``) that is far from
    the optimum: on weakly coupled data it left ``σ`` 0.05–0.19 short of it (at its start value
    in 7 of 20 data sets), and bootstrap refits started at the full-data optimum did not move at
    all, so ``σ``'s spread came out 10⁻¹⁰–10⁻⁶ where its sampling width is 0.6. The gradient
    stays resolved there, and Newton's method needs nothing else: a bootstrap refit from the
    full-data optimum is a Newton iteration whose first step has the sandwich covariance
    ``H⁻¹ Var(g) H⁻¹`` of the pseudo-likelihood (Varin, Reid & Firth 2011).
    """
    t = np.asarray(theta, np.float64)
    v, g = obj(t, weights, form=form, l2=0.0)
    for it in range(max_iter):
        if it == 0 and Hinv is not None:
            inv = Hinv
        else:
            H = obj.hessian(t, weights, form=form)
            if not np.all(np.isfinite(H)):
                break
            inv = _inverse(H)
        step = -inv @ g
        dec = float(-g @ step)
        if not dec >= tol:                                   # converged, or not finite
            break
        if form == "power_law" and abs(step[1]) > SIGMA_STEP:
            step = step * (SIGMA_STEP / abs(step[1]))       # keep the step's direction
        for _ in range(30):
            v_new, g_new = obj(t + step, weights, form=form, l2=0.0)
            if np.isfinite(v_new) and v_new <= v + 1e-6 * max(abs(v), 1.0):
                break
            step = step / 2
        else:
            break
        t, v, g = t + step, v_new, g_new
    return t


def _power_law_start(J: np.ndarray) -> tuple[float, float]:
    """``(A, σ)`` from a straight line through ``ln J_r`` against ``ln r`` (weights ``J_r²``)."""
    r = np.arange(1, J.size + 1, dtype=np.float64)
    ok = J > 0
    if ok.sum() < 2:
        return float(max(J[0], 0.1)), 0.5
    slope, icpt = np.polyfit(np.log(r[ok]), np.log(J[ok]), 1, w=J[ok])
    return float(np.exp(icpt)), float(np.clip(-slope - 1.0, -0.9, 5.0))


def _check(states, q, R, form, periodic):
    s = np.asarray(states)
    if s.ndim != 2 or s.shape[0] < 1 or not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"states must be an integer array (sequences, length); got dtype "
                         f"{s.dtype} and shape {s.shape}")
    n, N = s.shape
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"number of tokens q={q!r} must be an integer >= 2")
    if s.max() >= q:
        raise ValueError(f"tokens must lie in 0..{q - 1} (negative = padding); got max {s.max()}")
    if form not in FORMS:
        raise ValueError(f"form={form!r}; expected one of {FORMS}")
    if periodic:
        if (s < 0).any():
            raise ValueError("periodic=True needs complete sequences (no negative padding)")
        if not (isinstance(R, (int, np.integer)) and 1 <= R and 2 * R < N):
            raise ValueError(f"periodic fit needs 1 <= R and 2R < N; got R={R}, N={N}")
    elif not (isinstance(R, (int, np.integer)) and 1 <= R < N):
        raise ValueError(f"range R={R!r} must be an integer in 1..{N - 1} for length N={N}")
    if not (s >= 0).any():
        raise ValueError("no site holds a token (every entry is padding)")
    return s


def fit_long_range(key: jax.Array, states, *, q: int, R: int, form: str = "free",
                   periodic: bool = False, start_field: bool = False, l2: float = 0.0,
                   n_bootstrap: int = 20, max_iter: int = 1000,
                   chunk_elements: int = 1 << 22) -> LongRangeFit:
    """Fit ``(J_r, h)`` (or ``(A, σ, h)``) to token sequences by pseudo-likelihood.

    Args:
      key: JAX PRNG key for the bootstrap redraws.
      states: integer array ``(n, N)``: ``n`` sequences of ``N`` tokens in ``0..q-1``;
        negative entries are padding (absent sites).
      q: number of token states.
      R: largest coupling distance.
      form: ``"free"`` (one ``J_r`` per distance) or ``"power_law"`` (``J_r = A r^-(1+σ)``).
      periodic: treat each sequence as a ring (``2R < N``); default open ends.
      start_field: fit an extra field on the first site (the pull of the text's start; open
        chains only).
      l2: penalty ``l2 Σ J_r²`` on the free couplings (per-site objective units).
      n_bootstrap: bootstrap redraws over sequences for the errors (``< 2``: errors are nan).
      max_iter: L-BFGS iteration limit per fit.
      chunk_elements: bound on ``sequences × q × FFT length`` held at once.

    Returns:
      A :class:`LongRangeFit`.

    Example::

        fit = fit_long_range(jax.random.key(0), seqs, q=2, R=32, form="power_law")
        fit.sigma, fit.sigma_err
    """
    s = _check(states, q, R, form, periodic)
    if start_field and periodic:
        raise ValueError("start_field=True is for open chains (a ring has no first site)")
    n = s.shape[0]
    extra = (q - 1) * (2 if start_field else 1)
    obj = _Objective(s, int(q), int(R), bool(periodic), int(chunk_elements), bool(start_field))
    ones = np.ones(n)

    if form == "free":
        theta0 = np.zeros(R + extra)
    else:
        R0 = min(R, _INIT_RANGE)
        init = obj if R0 == R else _Objective(s, int(q), R0, bool(periodic), int(chunk_elements),
                                              bool(start_field))
        t_free = _minimise(init, np.zeros(R0 + extra), ones, form="free", l2=0.0,
                           max_iter=max_iter)
        A0, sig0 = _power_law_start(t_free[:R0])
        theta0 = np.concatenate([[A0, sig0], t_free[R0:]])
    theta = _minimise(obj, theta0, ones, form=form, l2=l2, max_iter=max_iter)
    if form == "power_law":
        theta = _newton(obj, theta, ones, form=form)
    value = obj(theta, ones, form=form, l2=0.0)[0]

    def unpack(t):
        if form == "free":
            J, rest = t[:R], t[R:]
        else:
            J, rest = power_law(np.arange(1, R + 1, dtype=np.float64), t[0], t[1]), t[2:]
        h = np.concatenate([[0.0], rest[:q - 1]])
        f = np.concatenate([[0.0], rest[q - 1:]]) if start_field else np.zeros(q)
        return np.asarray(J, np.float64), h, f

    J, h, f = unpack(theta)
    boots = []
    if n_bootstrap >= 2:
        Hinv = _inverse(obj.hessian(theta, ones, form=form)) if form == "power_law" else None
        for k in jax.random.split(key, n_bootstrap):
            w = np.bincount(np.asarray(jax.random.randint(k, (n,), 0, n)),
                            minlength=n).astype(np.float64)
            boots.append(_minimise(obj, theta, w, form=form, l2=l2, max_iter=max_iter)
                         if form == "free" else _newton(obj, theta, w, form=form, Hinv=Hinv))
    if boots:
        parts = [unpack(t) for t in boots]
        J_err, h_err, f_err = (np.std([p[k] for p in parts], 0, ddof=1) for k in range(3))
        t_err = np.std(boots, 0, ddof=1)
    else:
        J_err, h_err, f_err = np.full(R, np.nan), np.full(q, np.nan), np.full(q, np.nan)
        t_err = np.full(theta.size, np.nan)
    if form == "power_law":
        A, sig, A_err, sig_err = theta[0], theta[1], t_err[0], t_err[1]
        if sig > SIGMA_NEAREST and boots:
            sig_err = np.inf
        draws = np.array([t[:2] for t in boots], np.float64).reshape(-1, 2)
    else:
        A = sig = A_err = sig_err = np.nan
        draws = np.zeros((0, 2))
    return LongRangeFit(J, J_err, h, h_err, float(A), float(A_err), float(sig), float(sig_err),
                        f, f_err, float(value), draws, n, int(obj.present.sum()), form,
                        bool(periodic), float(l2))
