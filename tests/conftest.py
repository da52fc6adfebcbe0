import os

import jax
import pytest

# Strict promotion: an implicit dtype or rank change in library code is a bug (equinox's rule).
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """One worker per core (each test file on one worker) when pytest-xdist is installed and no
    ``-n`` was given; a plain pytest without the plugin runs serially."""
    if (config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None) is None
            and not os.environ.get("PYTEST_XDIST_WORKER")):
        config.option.numprocesses = "auto"
        config.option.dist = "loadfile"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running; excluded from the default run")


@pytest.fixture
def key():
    return jax.random.key(1234)


def _strict_approx(approx):
    """``pytest.approx`` that refuses a JAX array as the expected value on every pytest version.

    pytest 9.2 reads ``.flat`` from the expected value, which JAX arrays do not implement, so a
    test handing one over passes on an older pytest and fails on a fresh install. Refusing it
    here makes every pytest fail the same way, with a message that says what to do.
    """
    def strict(expected, *args, **kwargs):
        leaves = expected.values() if isinstance(expected, dict) else (
            expected if isinstance(expected, (list, tuple)) else (expected,))
        if any(isinstance(v, jax.Array) for v in leaves):
            raise TypeError("pytest.approx got a JAX array as the expected value; convert it "
                            "with float(...) or np.asarray(...) first")
        return approx(expected, *args, **kwargs)

    return strict


pytest.approx = _strict_approx(pytest.approx)
