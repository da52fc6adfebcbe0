import os
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

import toy_models
from phasejax.analysis import observables
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate

from conftest import ROOT


def small_run(seed=0, **kw):
    model = toy_models.make("potts", L=6, q=3)
    kw.setdefault("sampler", samplers.make("metropolis"))
    sampler = kw.pop("sampler")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(jax.random.key(seed), model, sampler, [0.8, 1.2], n_replicas=3,
                        n_therm=10, n_measure=40, **kw)


def test_shapes_and_site_histograms():
    tr = small_run()
    assert tr.energy.shape == (2, 3, 40) and tr.counts.shape == (2, 3, 40, 3)
    assert tr.site_counts.shape == (2, 3, 36, 3)
    assert np.all(tr.site_counts.sum(-1) == 40)
    assert np.all(tr.counts.sum(-1) == 36)
    assert tr.swap_acceptance is None
    assert np.all((tr.acceptance > 0) & (tr.acceptance <= 1))


@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
def test_recorded_states_are_the_measured_configurations(sampler):
    import jax.numpy as jnp

    model = toy_models.make("potts", L=6, q=3)
    smp = samplers.make(sampler, n_temperatures=2) if sampler == "tempering" else \
        samplers.make(sampler)
    tr = small_run(sampler=smp, record_states=True)
    assert tr.states.shape == (2, 3, 40, 36) and tr.states.dtype == np.int8
    s = tr.states.astype(np.int32)
    assert np.array_equal(np.stack([(s == a).sum(-1) for a in range(3)], -1), tr.counts)
    E = jax.vmap(model.energy)(jnp.asarray(s.reshape(-1, 6, 6)))
    assert np.allclose(np.asarray(E).reshape(tr.energy.shape), tr.energy, atol=1e-4)
    assert small_run().states is None


def test_same_seed_is_bit_identical_and_other_seeds_differ():
    a, b, c = small_run(0), small_run(0), small_run(1)
    assert np.array_equal(a.energy, b.energy) and np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.energy, c.energy)


def test_tempering_shapes_and_swap_statistics():
    tr = small_run(sampler=samplers.make("tempering", n_temperatures=2))
    assert tr.energy.shape == (2, 3, 40)
    assert tr.swap_acceptance.shape == (3, 1)
    assert np.all((tr.swap_acceptance >= 0) & (tr.swap_acceptance <= 1))
    rows = observables.summarise(tr, warn=False)
    assert any(r["observable"] == "swap_acceptance" for r in rows)


def test_progress_bar_reports_sweeps_on_a_terminal_only(capsys, monkeypatch):
    small_run(progress=True)
    assert capsys.readouterr().err == ""          # no terminal (a log file): no frames
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    small_run(progress=True)
    err = capsys.readouterr().err
    assert "/50" in err and "sweep" in err


@pytest.mark.parametrize("kw,match", [
    (dict(temperatures=[1.0, -0.5]), "temperature"),
    (dict(temperatures=[1.0, float("nan")]), "temperature"),
    (dict(n_measure=0), "n_measure=0"),
    (dict(start="hot"), "start='hot'"),
])
def test_bad_run_arguments(kw, match):
    model = toy_models.make("ising", L=4)
    args = dict(temperatures=[1.0])
    args.update(kw)
    T = args.pop("temperatures")
    with pytest.raises(ValueError, match=match):
        simulate(jax.random.key(0), model, samplers.make("metropolis"), T, **args)


def test_unknown_sampler_name():
    with pytest.raises(ValueError, match="unknown sampler 'gibbs'"):
        samplers.make("gibbs")


SHARD_SCRIPT = """
import os, sys, hashlib
import jax, numpy as np
import toy_models
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate
assert jax.local_device_count() == 4, jax.local_device_count()
model = toy_models.make("ising", L=8)
out = []
for shard in (True, False):
    for name in ("metropolis", "wolff"):
        tr = simulate(jax.random.key(3), model, samplers.make(name), [2.0, 2.5], n_replicas=2,
                      n_therm=5, n_measure=20, shard=shard)
        assert tr.n_devices == (4 if shard else 1)
        out.append(hashlib.sha1(tr.energy.tobytes() + tr.counts.tobytes()).hexdigest())
print(" ".join(out))
"""


# slow: a subprocess with four host devices compiles the driver afresh (about 45 s)
@pytest.mark.slow
def test_sharded_over_four_cpu_devices_is_bit_identical():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", SHARD_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    h = res.stdout.split()
    assert h[0] == h[2] and h[1] == h[3]
