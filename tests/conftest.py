import os

import jax
import pytest

# Strict promotion: an implicit dtype or rank change in library code is a bug (equinox's rule).
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running; excluded from the default run")


@pytest.fixture
def key():
    return jax.random.key(1234)
