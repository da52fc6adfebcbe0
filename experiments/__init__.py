"""The Hydra application of phasejax (``python -m experiments.sweep``) and its job kinds.

The configs are the repository's top-level ``conf/`` folder, imported as ``experiments.conf``
(Hydra's ``pkg://experiments.conf`` search path). An install ships ``conf/`` inside the package
as ``experiments/conf/`` (``package-dir`` in ``pyproject.toml``), so a wheel runs from any
directory without claiming a top-level ``conf`` package. A checkout has no
``experiments/conf/``: :func:`_checkout_conf` makes ``experiments.conf`` the checkout's own
``conf/``, whatever else is installed (another checkout's editable install included).
"""

import importlib.util
import sys
from pathlib import Path


def _checkout_conf():
    """``experiments.conf`` as the checkout's ``conf/`` (``None`` in an install)."""
    here = Path(__file__).resolve().parent
    conf = here.parent / "conf" / "__init__.py"
    if (here / "conf" / "__init__.py").is_file() or not conf.is_file():
        return None                       # installed: experiments/conf is a real subpackage
    name = f"{__name__}.conf"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, conf,
                                                  submodule_search_locations=[str(conf.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if (_conf := _checkout_conf()) is not None:
    conf = _conf
