"""No guest filesystem is ever mounted on the host, in any form.

Nova's VFSLocalFS mounted guest images on the compute host (loop, qemu-nbd, kpartx) and
joined guest paths to host directories; that path is gone by design. These checks read
the whole package and resolve what each name stands for (tests/policy/names.py: aliases,
``from x import y``, relative imports, ``importlib``, assignments, imports of imports),
so they check the property, not how an import is spelled: the only host commands
inject runs are qemu-img (overlays; under util-linux's setpriv, which only sets its
parent-death signal) and its own Python workers (the appliance's worker is started in
one place, and is the one module of inject.appliance that does the injection); nothing
names a host mount tool or device; and the modules that handle guest paths never touch
host files. Each check is shown to catch planted violations,
in a package of its own, at the end.
"""

import ast
import pathlib
import textwrap

import pytest

from tests.policy import names

TOP = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = names.Package(TOP, 'inject')

FORBIDDEN_WORDS = ('losetup', 'qemu-nbd', 'kpartx', 'guestmount', 'guestunmount',
                   'fusermount', 'nbdkit', '/dev/nbd', '/dev/loop', '/dev/mapper',
                   'mount.ext', 'VFSLocalFS', 'privsep')
# Everything that runs a host command (a fork of inject itself runs none: inject-api's
# workers are forks).
PROCESS_FUNCTIONS = (
    {'subprocess.' + n for n in ('run', 'Popen', 'call', 'check_call', 'check_output',
                                 'getoutput', 'getstatusoutput')}
    | {'os.' + n for n in ('system', 'popen', 'execv', 'execve', 'execvp', 'execvpe',
                           'execl', 'execle', 'execlp', 'execlpe', 'spawnv', 'spawnve',
                           'spawnvp', 'spawnvpe', 'spawnl', 'spawnle', 'spawnlp',
                           'spawnlpe', 'posix_spawn', 'posix_spawnp')}
    | {'pty.spawn', 'asyncio.create_subprocess_exec',
       'asyncio.create_subprocess_shell'})
# Modules that touch host files: a module handling guest paths reaches none of them.
HOST_FILES = ('os', 'pathlib', 'shutil', 'glob', 'subprocess', 'io', 'tempfile',
              'builtins.open', 'fileinput')
# Modules that handle guest paths.
GUEST_PATH_MODULES = ('inject.paths', 'inject.injection')
WORKER_MODULES = ('inject.cmd.appliance_worker', 'inject.imagebuilder')


def process_starts(package, module):
    """``(line, why)`` of each process ``module`` starts other than qemu-img or
    ``sys.executable -m <one of inject's workers>``; and of each process function it
    takes hold of without calling it (passed on, it could run anything)."""
    found = []
    for node, qualified in package.references(module):
        hit = qualified & PROCESS_FUNCTIONS
        if not hit:
            continue
        call = module.parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node):
            found.append((node.lineno, '%s taken without being called' % min(hit)))
            continue
        argv = call.args[0] if call.args else next(
            (k.value for k in call.keywords if k.arg in ('args', 'cmd')), None)
        command = _command(package, module, argv)
        if command is None:
            found.append((node.lineno, '%s runs %s' % (
                min(hit), ast.unparse(argv) if argv is not None else 'nothing said')))
    return found


def _command(package, module, argv):
    """'qemu-img' or the worker module that ``argv`` runs, else None."""
    if isinstance(argv, ast.Name):        # command = ['qemu-img'] + list(args)
        values = [n.value for n in ast.walk(module.tree)
                  if isinstance(n, ast.Assign) and any(
                      isinstance(t, ast.Name) and t.id == argv.id for t in n.targets)]
        commands = {_command(package, module, v) for v in values}
        return commands.pop() if len(commands) == 1 else None
    if isinstance(argv, ast.BinOp) and isinstance(argv.op, ast.Add):
        if (isinstance(argv.left, ast.Call) and package.resolve(module, argv.left.func)
                == {'inject.parent_death.setpriv'}):   # setpriv --pdeathsig KILL + command
            return _command(package, module, argv.right)
        argv = argv.left
    if not isinstance(argv, ast.List) or not argv.elts:
        return None
    first = argv.elts[0]
    if isinstance(first, ast.Constant) and first.value == 'qemu-img':
        return 'qemu-img'
    if (package.resolve(module, first) == {'sys.executable'} and len(argv.elts) >= 3
            and package.constants(module, argv.elts[1]) == {'-m'}):
        workers = _strings(package, module, argv.elts[2])
        if workers and workers <= set(WORKER_MODULES):
            return workers.pop()
    return None


def _strings(package, module, node):
    """The string values ``node`` may have: a constant, or a module constant."""
    values = package.constants(module, node)
    if not values and isinstance(node, ast.Name):
        values = {n.value.value for n in ast.walk(module.tree)
                  if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                  and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)}
    return {v for v in values if isinstance(v, str)}


def host_file_uses(package, module):
    """``(line, name)`` of each host file function or module ``module`` reaches."""
    found = set()
    for node, qualified in package.references(module):
        for name in qualified:
            if names.within(name, HOST_FILES):
                found.add((node.lineno, name))
    for name in package.imported(module):
        if names.within(name, HOST_FILES):
            found.add((0, name))
    return sorted(found)


def injection_importers(package, within):
    """Modules under ``within`` that import or load inject.injection."""
    return sorted(m.name for m in package.modules.values()
                  if names.within(m.name, (within,))
                  and any(names.within(i, ('inject.injection',))
                          for i in package.imported(m)))


def mount_words(module):
    return sorted({word for node in ast.walk(module.tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   for word in FORBIDDEN_WORDS if word in node.value})


MODULES = sorted(PACKAGE.modules)


def test_sources_found():
    assert len(MODULES) > 10
    assert {'inject.image', 'inject.appliance.channel', 'inject.appliance.worker'} <= set(
        MODULES)


@pytest.mark.parametrize('name', MODULES)
def test_no_mount_tool_is_named(name):
    assert mount_words(PACKAGE.modules[name]) == []


@pytest.mark.parametrize('name', MODULES)
def test_only_qemu_img_and_own_workers_are_run(name):
    assert process_starts(PACKAGE, PACKAGE.modules[name]) == []


def test_the_processes_inject_starts_are_found():
    """The check sees the three places that start processes, each allowed."""
    started = {}
    for name, module in PACKAGE.modules.items():
        for node, qualified in PACKAGE.references(module):
            if qualified & PROCESS_FUNCTIONS:
                call = module.parents[node]
                started[name] = _command(PACKAGE, module, call.args[0])
    assert started == {'inject.image': 'qemu-img',
                       'inject.appliance.channel': 'inject.cmd.appliance_worker',
                       'inject.imagebuilder': 'inject.imagebuilder'}


@pytest.mark.parametrize('name', GUEST_PATH_MODULES)
def test_guest_path_modules_never_touch_host_files(name):
    assert host_file_uses(PACKAGE, PACKAGE.modules[name]) == [], (
        '%s reaches host file functions: guest paths are resolved in the appliance only'
        % name)


def test_only_the_appliance_worker_does_the_injection():
    """The parent only follows the worker's messages: what is written into a guest is
    decided and done in the worker process, next to its appliance."""
    assert injection_importers(PACKAGE, 'inject.appliance') == ['inject.appliance.worker']


def test_the_appliance_worker_is_started_in_one_place():
    """In inject.appliance only channel.py starts a process: its worker module."""
    starting = sorted(
        name for name, module in PACKAGE.modules.items()
        if names.within(name, ('inject.appliance',))
        and any(q & PROCESS_FUNCTIONS for _, q in PACKAGE.references(module)))
    assert starting == ['inject.appliance.channel']


def test_the_only_vfs_driver_is_libguestfs():
    from importlib import metadata
    drivers = {ep.name: ep.value for ep in metadata.entry_points(group='inject.vfs')}
    assert drivers == {'guestfs': 'inject.vfs.guestfs:GuestFSDriver'}


def test_the_guestfs_driver_uses_host_paths_only_for_its_cache():
    module = PACKAGE.modules['inject.vfs.guestfs']
    uses = sorted({name for _, qualified in PACKAGE.references(module)
                   for name in qualified if names.within(name, HOST_FILES)
                   and not names.within(name, ('os.environ',))})  # supermin's kernel
    assert uses == ['os.makedirs'], uses


def test_no_mount_syscall_through_ctypes():
    for module in PACKAGE.modules.values():
        loaded = {name for name in PACKAGE.imported(module)
                  if names.within(name, ('ctypes', 'cffi'))}
        assert not loaded, '%s loads %s' % (module.name, loaded)


# --- the checks catch what they are for ------------------------------------------------

PLANTED = {
    'inject/__init__.py': '',
    'inject/image.py': '''
        import subprocess
        def qemu_img(args):
            command = ['qemu-img'] + list(args)
            return subprocess.run(command)
    ''',
    'inject/helper.py': '''
        from subprocess import run
        from subprocess import Popen as start
    ''',
    'inject/vfs/__init__.py': '',
    'inject/vfs/local.py': '''
        import functools
        import importlib
        import os as operating_system
        import subprocess as sp
        import sys
        from .. import helper
        from ..helper import run
        from inject.image import subprocess as again
        from inject import image

        def mount(disk):
            run(['mount', disk, '/mnt'])                         # found: from x import
            sp.check_call(['losetup', '-f', disk])               # found: alias
            importlib.import_module('subprocess').call(['kpartx'])   # found: importlib
            helper.start(['qemu-nbd', disk])                     # found: relative import
            again.run(['guestmount', disk])                      # found: import of import
            image.subprocess.Popen(['mount', disk])              # found: via a module
            runner = sp.Popen                                    # found: taken
            runner(['mount', disk])                              # found: assignment
            getattr(sp, 'run')(['mount', disk])                  # found: getattr
            operating_system.system('mount ' + disk)             # found: os, aliased
            later = functools.partial(sp.run, ['mount'])         # found: handed on
            sp.run([sys.executable, '-m', 'someone.else'])       # found: not a worker
            for name in ('subprocess',):
                importlib.import_module(name).run(['mount'])     # found: looped name
            sp.run(['qemu-img', 'info', disk])                   # allowed
            sp.Popen([sys.executable, '-m', 'inject.imagebuilder'])  # allowed
    ''',
    'inject/paths.py': '''
        import posixpath
        from os import path as host
        from .helper import run
        def normal(p):
            return posixpath.normpath(host.join('/', p)), open(p), run
    ''',
    'inject/appliance/__init__.py': '',
    'inject/appliance/session.py': '''
        from .. import injection as what_to_write
    ''',
    'inject/appliance/warm.py': '''
        import importlib
        core = importlib.import_module('inject.injection')
    ''',
    'inject/appliance/worker.py': '''
        from inject import injection
    ''',
    'inject/injection.py': '',
}


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp('planted')
    for rel, source in PLANTED.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return names.Package(root, 'inject')


def test_every_planted_process_start_is_found(planted):
    module = planted.modules['inject.vfs.local']
    found = process_starts(planted, module)
    lines = module.path.read_text().splitlines()
    expected = [n + 1 for n, line in enumerate(lines) if '# found:' in line]
    assert len(expected) == 13
    assert sorted({line for line, _ in found}) == expected, found
    assert process_starts(planted, planted.modules['inject.image']) == []


def test_host_files_reached_from_a_guest_path_module_are_found(planted):
    found = host_file_uses(planted, planted.modules['inject.paths'])
    assert {name for _, name in found} >= {'os.path', 'os.path.join', 'builtins.open',
                                           'subprocess.run'}


def test_every_planted_import_of_the_injection_code_is_found(planted):
    assert injection_importers(planted, 'inject.appliance') == [
        'inject.appliance.session', 'inject.appliance.warm', 'inject.appliance.worker']
