"""The scripts of tools/ (not a package), loaded as modules for their tests."""

import importlib.util
import os
import sys

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools')


def load(name):
    """tools/``name``.py as the module ``name`` (loaded once), with tools/ on sys.path
    while it loads, as when the script runs (its imports of its neighbours work)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, TOOLS)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(TOOLS)
    return module
