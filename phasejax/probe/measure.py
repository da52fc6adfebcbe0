"""Measure a language model on a random task, in the toy side's tidy schema.

*Choice tasks* — exact: every prompt variant is scored by teacher forcing (:mod:`scoring`),
giving ``p_T(k | prompt)`` for all temperatures from one pass. Per prompt and ``T``:
entropy ``S = H(p_T)``, ``m = (K max p_T − 1)/(K − 1)``, top-1 mass, captured mass, and with
option energies ``E_k = −ln p_1(a_k | prompt)`` (minus the log-probability of the option's token
path at ``T = 1``) the internal energy ``U = Σ_k p_T(k) E_k`` and ``C = Var_{p_T}(E)/T²``. When
every option is a single token, ``p_T ∝ exp(−E/T)`` exactly and ``C = dU/dT``. Across prompts:
``I(prompt; answer)``, mean pairwise JS, number of distinct distributions, and (with a seed
distribution) overlap, support retention, JS to the seed and the phase label.

*Open tasks* (first names, …) — sampled: empirical answer distributions per prompt
(:func:`measure_open`).

*Sequence tasks* — sampled: ``n`` answers per prompt at each ``T`` and length ``N``, parsed into
items; per answer the Potts order parameter ``m = (q max_k n_k / N − 1)/(q − 1)``; moments
``⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩``, Binder ``U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`` and ``χ = N(⟨m²⟩ − ⟨|m|⟩²)/T`` over
all parsed answers (prompt variants are the quenched disorder), with bootstrap errors.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Optional

import jax
import numpy as np

from phasejax.analysis import distributions as D
from phasejax.analysis import sequences
from phasejax.probe import tasks as tasks_mod
from phasejax.probe.prompts import (_stop_ids, encode_options, encode_prompt, prompt_text,
                                    resolve_form, selected_prompts)
from phasejax.probe.sampling import decode, generate
from phasejax.probe.scoring import LowCapturedMass, score_prompts, stop_class

COLUMNS = ("model", "task", "form", "prompt", "L", "T", "observable", "mean", "stderr",
           "n_samples")


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """How the probe asks: form, temperatures, prompts, sampling and scoring settings (the
    Hydra ``probe`` schema is derived from these fields)."""

    form: str = "auto"                       # chat | completion | auto (chat if a template)
    temperatures: tuple = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    prompts: Optional[tuple] = None          # prompt ids to use (None: all)
    answer_prefix: Optional[str] = None      # overrides the task's prefix
    lengths: tuple = (4, 8)                  # sequence tasks: N values
    n_samples: int = 100                     # sequence tasks: answers per prompt and (T, N)
    seed: int = 0
    top_k: int = 0
    top_p: float = 1.0
    max_rows: int = 512
    bootstrap: int = 200
    seed_distribution: Optional[tuple] = None   # choice tasks: p₀ over the options
    max_new_tokens: int = 8                  # open tasks: tokens generated per answer
    terminator: Optional[str] = None         # choice tasks: overrides the task's (e.g. <stop>)


def _row(meta, prompt, L, T, name, mean, err=np.nan, n=1):
    return dict(meta, prompt=prompt, L=L, T=float(T), observable=name, mean=float(mean),
                stderr=float(err), n_samples=int(n))


def measure_choice(lm, task, settings: ProbeSettings, name: str = "model"):
    """Exact answer distributions of a choice task: ``(rows, arrays)``.

    ``arrays`` holds ``p`` ``(prompts, T, K)``, ``log_prob`` (unnormalised), ``captured``
    ``(prompts, T)``, ``temperatures``, ``options`` and ``prompt_ids``.
    """
    if task.kind == "sequence":
        raise ValueError(f"task {task.name!r} is a sequence task; use measure_sequences")
    if task.kind == "open":
        raise ValueError(f"task {task.name!r} is open-ended: its answers cannot be enumerated; "
                         "use measure_open (sampling)")
    form = resolve_form(lm, settings.form)
    prompts = selected_prompts(task, settings.prompts)
    T = np.asarray(settings.temperatures, float)
    ids = [encode_prompt(lm, prompt_text(lm, task, p, form,
                                         answer_prefix=settings.answer_prefix), form)
           for p in prompts]
    options = encode_options(lm, task, form, settings.terminator)
    term = settings.terminator or task.terminator.get(form)
    stop = stop_class(lm.tokenizer) if term == tasks_mod.STOP else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LowCapturedMass)
        dists = score_prompts(lm.model, ids, options, T, max_rows=settings.max_rows,
                              stop_mask=stop)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    P = np.stack([d.p for d in dists])                  # (J, n_T, K)
    logp = np.stack([d.log_prob for d in dists])
    captured = np.stack([d.captured for d in dists])
    i1 = int(np.argmin(np.abs(T - 1.0)))
    # energies from T = 1 logits; if 1 is not in the grid, the closest T's path log-prob · T
    E = -logp[:, i1] * (T[i1] if not np.isclose(T[i1], 1.0) else 1.0)
    meta = dict(model=name, task=task.name, form=form)
    rows = []
    J, K = len(prompts), len(task.options)
    seed = None if settings.seed_distribution is None else np.asarray(settings.seed_distribution,
                                                                      float)
    if seed is not None and seed.shape != (K,):
        raise ValueError(f"seed distribution has {seed.size} entries; the task has {K} options")
    for t, temp in enumerate(T):
        Pt = P[:, t]
        U = (Pt * E).sum(-1)
        C = (Pt * (E - U[:, None]) ** 2).sum(-1) / temp**2
        per = {"entropy": np.asarray(D.entropy(Pt), float),
               "normalised_entropy": np.asarray(D.normalised_entropy(Pt), float),
               "order_parameter": np.asarray(D.order_parameter(Pt), float),
               "top1_mass": Pt.max(-1),
               "top3_mass": np.asarray(D.top_k_mass(Pt, min(3, K)), float),
               "captured_mass": captured[:, t],
               "energy": U, "specific_heat": C}
        for j, p in enumerate(prompts):
            for obs, v in per.items():
                rows.append(_row(meta, p.id, 1, temp, obs, v[j]))
            for k, o in enumerate(task.options):
                rows.append(_row(meta, p.id, 1, temp, f"p[{o}]", Pt[j, k]))
        for obs, v in per.items():
            err = v.std(ddof=1) / np.sqrt(J) if J > 1 else np.nan
            rows.append(_row(meta, "mean", 1, temp, obs, v.mean(), err, J))
        mean_p = Pt.mean(0)
        for k, o in enumerate(task.options):
            rows.append(_row(meta, "mean", 1, temp, f"p[{o}]", mean_p[k], n=J))
        across = {"mutual_information": float(D.mutual_information(Pt)),
                  "mean_pairwise_js": float(D.mean_pairwise_js(Pt)) if J > 1 else 0.0,
                  "n_distinct": D.n_distinct(Pt),
                  "entropy_of_mean": float(D.entropy(mean_p))}
        if seed is not None:
            st = D.phase_statistics(Pt, seed)
            across.update(st._asdict())
            across["phase"] = D.PHASES.index(D.phase_label(st))
        for obs, v in across.items():
            rows.append(_row(meta, "all", 1, temp, obs, v, n=J))
    arrays = dict(p=P, log_prob=logp, captured=captured, temperatures=T,
                  options=np.asarray(task.options), prompt_ids=np.asarray([p.id for p in prompts]))
    return rows, arrays




def parse_items(task, text: str, n: int) -> Optional[list[int]]:
    """Option indices of the first ``n`` items of a generated list, or ``None``."""
    index = {o: k for k, o in enumerate(task.options)}
    sep = task.separator.strip() or None
    parts = [t.strip().rstrip(".") for t in (text.split(sep) if sep else text.split())]
    parts = [p for p in parts if p]
    if len(parts) < n:
        return None
    picked = [index.get(p) for p in parts[:n]]
    return None if any(k is None for k in picked) else picked


def measure_sequences(lm, task, settings: ProbeSettings, name: str = "model", progress=None):
    """Sampled sequence statistics versus ``N`` and ``T``: ``(rows, arrays)``."""
    if task.kind != "sequence":
        raise ValueError(f"task {task.name!r} is not a sequence task")
    form = resolve_form(lm, settings.form)
    prompts = selected_prompts(task, settings.prompts)
    q = len(task.options)
    meta = dict(model=name, task=task.name, form=form)
    stop = _stop_ids(lm, form)
    rows, arrays = [], {}
    key = jax.random.key(settings.seed)
    sep_tokens = max(1, len(lm.tokenizer.encode(task.separator, add_special_tokens=False).ids))
    item_tokens = max(len(lm.tokenizer.encode(f" {o}", add_special_tokens=False).ids)
                      for o in task.options)
    for N in settings.lengths:
        ids = [encode_prompt(lm, prompt_text(lm, task, p, form, n=N,
                                             answer_prefix=settings.answer_prefix), form)
               for p in prompts]
        max_new = N * (item_tokens + sep_tokens) + 4
        for t_index, temp in enumerate(settings.temperatures):
            t0 = time.perf_counter()
            g = generate(jax.random.fold_in(jax.random.fold_in(key, N), t_index), lm.model, ids,
                         max_new, temperature=float(temp), top_k=settings.top_k,
                         top_p=settings.top_p, stop_ids=stop, n_samples=settings.n_samples,
                         max_rows=settings.max_rows)
            texts = decode(lm.tokenizer, g)
            parsed = [[parse_items(task, t, N) for t in per] for per in texts]
            ok = [[x for x in per if x is not None] for per in parsed]
            items = np.asarray([x for per in ok for x in per], np.int64).reshape(-1, N)
            n_ok = items.shape[0]
            n_all = sum(len(per) for per in parsed)
            rows.append(_row(meta, "all", N, temp, "parse_rate", n_ok / n_all, n=n_all))
            arrays[f"items_N{N}_T{temp:g}"] = items
            if n_ok >= 2:
                m = sequences.potts_m(items, q=q)
                boot_key = jax.random.fold_in(jax.random.fold_in(key, 10_000 + N), t_index)
                for obs, (v, e) in sequences.moment_statistics(
                        boot_key, m, N=N, T=float(temp), n_boot=settings.bootstrap).items():
                    rows.append(_row(meta, "all", N, temp, obs, v, e, n_ok))
                freq = np.bincount(items.ravel(), minlength=q) / items.size
                rows.append(_row(meta, "all", N, temp, "item_entropy", D.entropy(freq), n=n_ok))
                for j, p in enumerate(prompts):
                    if len(ok[j]) >= 2:
                        mj = sequences.potts_m(np.asarray(ok[j]), q=q)
                        rows.append(_row(meta, p.id, N, temp, "abs_magnetisation", mj.mean(),
                                         mj.std(ddof=1) / np.sqrt(mj.size), mj.size))
            if progress:
                progress(f"N={N} T={temp:g}: {n_ok}/{n_all} parsed "
                         f"({time.perf_counter() - t0:.1f}s)")
    return rows, arrays


def _bootstrap_entropy(samples: np.ndarray, n_boot: int, rng) -> float:
    if samples.size < 2:
        return np.nan
    boots = samples[rng.integers(0, samples.size, size=(n_boot, samples.size))]
    H = [float(D.entropy(np.unique(b, return_counts=True)[1] / b.size)) for b in boots]
    return float(np.std(H, ddof=1))


def measure_open(lm, task, settings: ProbeSettings, name: str = "model", progress=None):
    """Sampled answer distributions of an open task (e.g. first names): ``(rows, arrays)``.

    Answers are parsed with the task's ``answer_pattern``; the empirical distribution over the
    answers seen gives plug-in entropy (bootstrap error), top-1 mass and the number of distinct
    answers per prompt, and across prompts ``I(prompt; answer)`` over the union of answers.
    """
    if task.kind != "open":
        raise ValueError(f"task {task.name!r} is not an open task")
    form = resolve_form(lm, settings.form)
    prompts = selected_prompts(task, settings.prompts)
    meta = dict(model=name, task=task.name, form=form)
    ids = [encode_prompt(lm, prompt_text(lm, task, p, form,
                                         answer_prefix=settings.answer_prefix), form)
           for p in prompts]
    rows, arrays = [], {}
    rng = np.random.default_rng(settings.seed)
    key = jax.random.key(settings.seed)
    for t_index, temp in enumerate(settings.temperatures):
        t0 = time.perf_counter()
        g = generate(jax.random.fold_in(key, t_index), lm.model, ids, settings.max_new_tokens,
                     temperature=float(temp), top_k=settings.top_k, top_p=settings.top_p,
                     stop_ids=_stop_ids(lm, form), n_samples=settings.n_samples,
                     max_rows=settings.max_rows)
        parsed = [[task.parse(t) for t in per] for per in decode(lm.tokenizer, g)]
        vocab = sorted({a for per in parsed for a in per if a is not None})
        index = {a: i for i, a in enumerate(vocab)}
        counts = np.zeros((len(prompts), max(len(vocab), 1)))
        for j, per in enumerate(parsed):
            ok = np.asarray([index[a] for a in per if a is not None], np.int64)
            n_all = len(per)
            rows.append(_row(meta, prompts[j].id, 1, temp, "parse_rate", ok.size / n_all,
                             n=n_all))
            if ok.size == 0:
                continue
            counts[j] = np.bincount(ok, minlength=counts.shape[1])
            p = counts[j] / ok.size
            rows.append(_row(meta, prompts[j].id, 1, temp, "entropy", D.entropy(p),
                             _bootstrap_entropy(ok, settings.bootstrap, rng), ok.size))
            rows.append(_row(meta, prompts[j].id, 1, temp, "top1_mass", p.max(), n=ok.size))
            rows.append(_row(meta, prompts[j].id, 1, temp, "n_unique", (p > 0).sum(),
                             n=ok.size))
        answered = counts.sum(-1) > 0
        if answered.sum() >= 1 and vocab:
            P = counts[answered] / counts[answered].sum(-1, keepdims=True)
            across = {"mutual_information": float(D.mutual_information(P)),
                      "n_distinct": D.n_distinct(P), "n_unique": len(vocab),
                      "entropy_of_mean": float(D.entropy(P.mean(0)))}
            for obs, v in across.items():
                rows.append(_row(meta, "all", 1, temp, obs, v, n=int(answered.sum())))
        arrays[f"answers_T{temp:g}"] = np.asarray(vocab if vocab else [""])
        arrays[f"counts_T{temp:g}"] = counts
        if progress:
            progress(f"T={temp:g}: {len(vocab)} distinct answers "
                     f"({time.perf_counter() - t0:.1f}s)")
    return rows, arrays


def measure(lm, task, settings: ProbeSettings, name: str = "model", progress=None):
    """Dispatch on the task kind; returns ``(rows, arrays)`` in :data:`COLUMNS`."""
    if task.kind == "sequence":
        return measure_sequences(lm, task, settings, name, progress)
    if task.kind == "open":
        return measure_open(lm, task, settings, name, progress)
    return measure_choice(lm, task, settings, name)
