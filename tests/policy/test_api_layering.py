"""inject-api reaches injection only through the agent (inject.agent), never by importing
the injection core: the agent may run on another host, with a configuration of its own,
so what the API could learn from the core in its own process would be about the wrong
host."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'inject'
API_SOURCES = sorted((PACKAGE / 'api').rglob('*.py'))
CORE = ('inject.manager', 'inject.vfs', 'inject.appliance', 'inject.injection')


def _imported(tree):
    """Every module an import statement names, including ``from inject import vfs``
    (as ``inject.vfs``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update('%s.%s' % (node.module, alias.name) for alias in node.names)
    return names


def _is_core(name):
    return any(name == core or name.startswith(core + '.') for core in CORE)


def test_api_sources_found():
    assert len(API_SOURCES) > 5
    assert PACKAGE / 'api' / 'compute.py' in API_SOURCES


@pytest.mark.parametrize('path', API_SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_api_does_not_import_the_injection_core(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    core = sorted(name for name in _imported(tree) if _is_core(name))
    assert not core, '%s imports %s: ask the agent (inject.agent) instead' % (
        path.relative_to(PACKAGE), ', '.join(core))


@pytest.mark.parametrize('source, found', [
    ('from inject import manager', True),
    ('from inject import vfs as v', True),
    ('import inject.appliance', True),
    ('from inject.vfs import api', True),
    ('from inject.appliance import session', True),
    ('from inject import injection', True),
    ('from inject import inspection_cache', False),
    ('from inject import agent', False),
    ('from inject.api import compute', False),
    ('import inject.request', False),
])
def test_the_scan_sees_every_import_form(source, found):
    assert any(_is_core(n) for n in _imported(ast.parse(source))) is found
