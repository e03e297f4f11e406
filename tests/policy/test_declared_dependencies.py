"""Every third-party module the code imports comes from a distribution pyproject.toml
declares: inject's own imports from ``dependencies``, the tests' from those or the
``test`` extra. Nothing may arrive only as a dependency of a dependency (keystoneauth1
and requests did, through keystonemiddleware)."""

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

TOP = pathlib.Path(__file__).resolve().parents[2]
# Imported, but not from PyPI: what provides them instead.
NOT_FROM_PYPI = {
    'guestfs': "Debian's python3-guestfs, linked into the virtualenv by tools/setup.sh",
    'cloudinit': "Debian's cloud-init, unpacked by tools/cloudinit.sh",
}


def _normal(name):
    """A distribution name as PEP 503 compares them."""
    return re.sub(r'[-_.]+', '-', name).lower()


def declared(pyproject_text):
    """(runtime, test) distribution names of a pyproject.toml."""
    project = tomllib.loads(pyproject_text)['project']

    def names(requirements):
        return {_normal(re.split(r'[\s<>=!~;\[]', r, maxsplit=1)[0]) for r in requirements}
    return (names(project['dependencies']),
            names(project.get('optional-dependencies', {}).get('test', [])))


def imported(paths):
    """``{top-level module: first file importing it}`` of third-party imports in
    ``paths`` (absolute imports; the standard library, inject, tests and modules
    beside the importing file left out)."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if (top in sys.stdlib_module_names or top in ('inject', 'tests', 'tools')
                        or (path.parent / (top + '.py')).exists()):
                    continue
                found.setdefault(top, path)
    return found


def undeclared(modules, allowed):
    """``{module: why}`` for each module no allowed distribution provides."""
    providers = importlib.metadata.packages_distributions()
    wrong = {}
    for module, path in sorted(modules.items()):
        if module in NOT_FROM_PYPI:
            continue
        dists = {_normal(d) for d in providers.get(module, ())}
        if not dists:
            wrong[module] = '%s imports it and no installed distribution provides it' % (
                path.relative_to(TOP))
        elif not dists & allowed:
            wrong[module] = '%s imports it; declare %s' % (
                path.relative_to(TOP), ' or '.join(sorted(dists)))
    return wrong


PYPROJECT = (TOP / 'pyproject.toml').read_text()
RUNTIME, TEST = declared(PYPROJECT)


def test_inject_imports_only_declared_dependencies():
    modules = imported(sorted((TOP / 'inject').rglob('*.py')))
    assert 'keystoneauth1' in modules and 'sqlalchemy' in modules
    assert undeclared(modules, RUNTIME) == {}


def test_the_tests_import_only_declared_dependencies():
    modules = imported(sorted((TOP / 'tests').rglob('*.py')))
    assert 'requests' in modules and 'pytest' in modules
    assert undeclared(modules, RUNTIME | TEST) == {}


def test_a_dependency_that_arrives_only_through_another_is_found():
    """The check on a pyproject.toml without keystoneauth1 and requests, which
    keystonemiddleware installs anyway: both are named."""
    planted = PYPROJECT
    for name in ('keystoneauth1', 'requests'):
        planted = re.sub(r'\n\s*"%s[^"]*",' % name, '', planted)
    runtime, test = declared(planted)
    assert 'keystonemiddleware' in runtime and 'keystoneauth1' not in runtime
    wrong = undeclared(imported(sorted((TOP / 'inject').rglob('*.py'))), runtime)
    assert set(wrong) == {'keystoneauth1', 'requests'}
    assert 'declare keystoneauth1' in wrong['keystoneauth1']
    wrong = undeclared(imported(sorted((TOP / 'tests').rglob('*.py'))), runtime | test)
    assert set(wrong) == {'keystoneauth1', 'requests'}
