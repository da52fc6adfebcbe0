"""Policy-gradient post-training with a group baseline (GRPO-style) and a KL penalty.

Each step samples ``group`` answers for each of ``prompts_per_step`` prompts with the probe's
sampler, scores them with a reward over the task's options (anything that is not an option gets
``reward_other``), and uses the group-relative advantage ``A = r − mean_group(r)``. The loss is

.. math:: L = −\\mathrm{mean}(A · \\ln π(a | x)) + β\\, \\mathrm{mean}(e^{Δ} − Δ − 1),
          \\quad Δ = \\ln π_{ref}(a | x) − \\ln π(a | x),

the second term the non-negative, unbiased estimator of ``KL(π ‖ π_ref)`` on sampled answers,
which keeps the policy near the SFT model.

Two rewards: a *preference* — a fixed score per option — or a *target* distribution ``q``
over the options, for which the reward of an answer is ``ln q(a) − ln π(a | x)`` (the policy's
own log-probability, not differentiated; options with ``q = 0`` and non-options get
``ln 10⁻⁶``). Its expected value is ``−KL(π ‖ q)``, so the policy gradient descends the
reverse KL to the target and, at ``β = 0``, its fixed point is ``π = q`` on every prompt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from phasejax.probe.sampling import generate, match_options
from phasejax.train.lora import LoRA, parametrize


TARGET_FLOOR = 1e-6


class RLLog(NamedTuple):
    """Rewards, KL and throughput of a :func:`grpo` run."""

    steps: np.ndarray         # (n,)
    reward: np.ndarray        # (n,) mean reward of the sampled answers
    kl: np.ndarray            # (n,) mean KL estimate to the reference
    answers_per_s: float


def pack_answers(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]],
                 n_prompt: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``prompt ⊕ answer``: prompts left-padded to ``n_prompt`` tokens, so that every
    answer starts at position ``n_prompt``, answers right-padded to ``width``. Returns
    ``(tokens, mask)``, both ``(rows, n_prompt + width)``."""
    toks = np.zeros((len(prompts), n_prompt + width), np.int32)
    mask = np.zeros_like(toks, bool)
    for row, (p, a) in enumerate(zip(prompts, answers)):
        toks[row, n_prompt - len(p):n_prompt] = p
        mask[row, n_prompt - len(p):n_prompt] = True
        toks[row, n_prompt:n_prompt + len(a)] = a
        mask[row, n_prompt:n_prompt + len(a)] = True
    return toks, mask


def sequence_log_prob(model, toks, mask, n_prompt: int):
    """``ln π(a | x) = Σ_t ln softmax(ℓ_{t−1})[a_t]`` over the answer tokens of rows laid out
    by :func:`pack_answers` (positions ``t ≥ n_prompt`` inside ``mask``): ``(rows,)``."""
    logits = model(toks, mask)[:, :-1].astype(jnp.float32)
    lp = jnp.take_along_axis(jax.nn.log_softmax(logits, -1), toks[:, 1:, None], -1)[..., 0]
    answer = (jnp.arange(toks.shape[1] - 1)[None] >= n_prompt - 1) & mask[:, 1:]
    return jnp.sum(jnp.where(answer, lp, 0.0), -1)


def grpo(key, model, reference, prompts: Sequence[Sequence[int]],
         option_ids: Sequence[Sequence[int]], reward: Sequence[float], *, steps: int,
         group: int = 16, prompts_per_step: int = 8, beta: float = 0.05, lr: float = 1e-3,
         reward_other: float = 0.0, log_every: int = 5, checkpoint_every: int = 0,
         folder=None, save: Optional[Callable] = None,
         progress: Optional[Callable] = None, lora: Optional[LoRA] = None,
         target: bool = False) -> RLLog:
    """Train ``model`` in place against ``reference`` (frozen).

    With ``folder`` and ``checkpoint_every``, the model (``save(model, path)``) and optimizer
    state are written every ``checkpoint_every`` steps and a rerun resumes from the last one;
    step ``i`` draws its prompts and answers from ``(key, i)`` alone, so a resumed run
    continues exactly as an uninterrupted one would. With ``target=True``, ``reward`` is the
    target distribution over the options (module docstring); the logged reward is then the
    sampled estimate of ``−KL(π ‖ q)``.

    Args:
      key: JAX PRNG key; step ``i`` draws its prompts and answers from ``(key, i)``.
      model: the policy decoder, trained in place.
      reference: the frozen reference decoder of the KL penalty.
      prompts: token ids of the training prompts.
      option_ids: token ids of each option an answer may start with.
      reward: score per option, or with ``target=True`` the target distribution over them.
      steps: optimizer steps in all (a resumed run does only the missing ones).
      group: answers sampled per prompt (the baseline is their mean reward).
      prompts_per_step: prompts drawn per step.
      beta: weight of the KL penalty.
      lr: Adam learning rate.
      reward_other: reward of an answer that is no option (preference rewards only).
      log_every: steps per recorded (mean) reward and KL.
      checkpoint_every: steps between checkpoints in ``folder`` (``0``: none).
      folder: checkpoint folder; the run resumes from its last complete checkpoint.
      save: ``save(model, path)`` writes the model part of a checkpoint.
      progress: called with a line of text at every record.
      lora: low-rank adapters to train instead of every parameter.
      target: read ``reward`` as a target distribution (module docstring).

    Returns:
      An :class:`RLLog`.
    """
    from phasejax.train.loop import checkpoint, resume
    reward, reward_other = option_rewards(reward, len(option_ids), reward_other, target)
    width = max(len(o) for o in option_ids)
    prompts = [list(p) for p in prompts]
    plen = max(map(len, prompts))
    tx = optax.adam(lr)
    forward, frozen, params, to_params = parametrize(jax.random.fold_in(key, 1_000_003),
                                                     model, lora)
    ref_graph, ref_state = nnx.split(reference)
    opt_state = tx.init(params)
    folder = None if folder is None else Path(folder)
    start, params, opt_state = resume(model, params, opt_state, folder, to_params, progress)
    update = _update_step(tx, forward, ref_graph, plen, group, beta, target)

    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    rec_steps, rec_reward, rec_kl, window_r, window_k = [], [], [], [], []
    t_run, n_ans = 0.0, 0
    for i in range(start, steps):
        t0 = time.perf_counter()
        nnx.update(model, to_params(params))
        toks, mask, r = _rollout(jax.random.fold_in(key, i), np.random.default_rng([seed, i]),
                                 model, prompts, option_ids, reward, reward_other,
                                 prompts_per_step, group, plen, width)
        with jax.numpy_dtype_promotion("standard"):   # optax mixes int counts and floats
            params, opt_state, kl, mean_r = update(params, opt_state, jnp.asarray(toks),
                                                   jnp.asarray(mask), jnp.asarray(r.reshape(-1)),
                                                   frozen, ref_state)
        window_r.append(float(mean_r))
        window_k.append(float(kl))
        if i > start:
            t_run += time.perf_counter() - t0
            n_ans += r.size
        if (i + 1) % log_every == 0 or i + 1 == steps:
            rec_steps.append(i + 1)
            rec_reward.append(float(np.mean(window_r)))
            rec_kl.append(float(np.mean(window_k)))
            window_r, window_k = [], []
            if progress:
                progress(f"rl step {i + 1}/{steps} reward {rec_reward[-1]:.3f} "
                         f"kl {rec_kl[-1]:.4f}")
        checkpoint(model, to_params, params, opt_state, folder, i + 1, checkpoint_every, steps,
                   save)
    nnx.update(model, to_params(params))
    return RLLog(np.asarray(rec_steps), np.asarray(rec_reward), np.asarray(rec_kl),
                 n_ans / t_run if t_run > 0 else float("nan"))


def option_rewards(reward, n_options: int, reward_other: float, target: bool):
    """``(reward per option, reward of a non-option answer)`` as float32 / float; with
    ``target`` the log of the target distribution (floored at :data:`TARGET_FLOOR`), checked to
    be one."""
    reward = np.asarray(reward, np.float64)
    if reward.shape != (n_options,):
        raise ValueError(f"reward has {reward.size} entries for {n_options} options")
    if target:
        if np.any(reward < 0) or not np.isclose(reward.sum(), 1.0, atol=1e-6):
            raise ValueError(f"a target distribution must be non-negative and sum to 1; "
                             f"got {reward.tolist()}")
        reward, reward_other = np.log(np.maximum(reward, TARGET_FLOOR)), np.log(TARGET_FLOOR)
    return reward.astype(np.float32), reward_other


def _update_step(tx, forward, ref_graph, plen: int, group: int, beta: float, target: bool):
    """The jitted step: group-baseline policy gradient with the ``k3`` KL penalty toward the
    reference (module docstring); the weights are arguments, not baked-in constants."""

    @jax.jit
    def update(p, s, toks, mask, r, frozen, ref_state):
        ref = sequence_log_prob(nnx.merge(ref_graph, ref_state), toks, mask, plen)
        if target:     # r = ln q(a) − ln π(a|x) with the current policy, not differentiated
            r = r - sequence_log_prob(forward(p, frozen), toks, mask, plen)
        by_prompt = r.reshape(-1, group)
        adv = (by_prompt - by_prompt.mean(1, keepdims=True)).reshape(-1)

        def loss_fn(p):
            lp = sequence_log_prob(forward(p, frozen), toks, mask, plen)
            d = jax.lax.stop_gradient(ref) - lp
            kl = jnp.exp(d) - d - 1.0
            return -jnp.mean(adv * lp) + beta * jnp.mean(kl), jnp.mean(kl)

        (loss, kl), g = jax.value_and_grad(loss_fn, has_aux=True)(p)
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s, kl, jnp.mean(r)

    return update


def _rollout(key, rng, model, prompts, option_ids, reward, reward_other, prompts_per_step,
             group, plen, width):
    """One step's answers: ``prompts_per_step`` prompts drawn with ``rng``, ``group`` answers
    each sampled at ``T = 1`` with ``key``, their rewards ``(P, G)``, packed as
    ``(tokens, mask)`` for the update."""
    pick = rng.choice(len(prompts), size=prompts_per_step, replace=len(prompts) <
                      prompts_per_step)
    batch = [prompts[j] for j in pick]
    g = generate(key, model, batch, width, temperature=1.0, n_samples=group)
    hit = match_options(g.tokens, option_ids)                        # (P, G)
    r = np.where(hit >= 0, reward[np.maximum(hit, 0)], reward_other).astype(np.float32)
    toks, mask = pack_answers([p for p in batch for _ in range(group)],
                              [g.tokens[b, s_, :int(g.length[b, s_])]
                               for b in range(len(batch)) for s_ in range(group)],
                              plen, width)
    return toks, mask, r
