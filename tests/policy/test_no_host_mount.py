"""No guest filesystem is ever mounted on the host, in any form.

Nova's VFSLocalFS mounted guest images on the compute host (loop, qemu-nbd, kpartx) and
joined guest paths to host directories; that path is gone by design. These checks read
the whole package: the only host commands inject runs are qemu-img (overlays) and its
own Python workers (the appliance's worker is started in one place, and is the one
module of inject.appliance that does the injection); nothing names a host mount tool or
device; and the modules that handle guest paths never touch host path functions.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'inject'
SOURCES = sorted(PACKAGE.rglob('*.py'))
APPLIANCE_SOURCES = sorted((PACKAGE / 'appliance').glob('*.py'))

FORBIDDEN_WORDS = ('losetup', 'qemu-nbd', 'kpartx', 'guestmount', 'guestunmount',
                   'fusermount', 'nbdkit', '/dev/nbd', '/dev/loop', '/dev/mapper',
                   'mount.ext', 'VFSLocalFS', 'privsep')
PROCESS_CALLS = {('subprocess', n) for n in ('run', 'Popen', 'call', 'check_call',
                                             'check_output', 'getoutput',
                                             'getstatusoutput')} | {
    ('os', n) for n in ('system', 'popen', 'execv', 'execve', 'execvp', 'execvpe', 'execl',
                        'execlp', 'spawnv', 'spawnl', 'spawnvp', 'posix_spawn',
                        'posix_spawnp')}
# Modules that handle guest paths: they must not resolve anything on the host.
GUEST_PATH_MODULES = ('paths.py', 'injection.py')


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imported(tree):
    """Every name a tree imports: ``from a import b`` counts as a, b and a.b."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.name for alias in node.names}
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {'%s.%s' % (node.module, alias.name) for alias in node.names}
    return names


def _process_calls(tree):
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in PROCESS_CALLS]


def _strings(tree):
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_sources_found():
    assert len(SOURCES) > 10


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_mount_tool_is_named(path):
    for text in _strings(_tree(path)):
        for word in FORBIDDEN_WORDS:
            assert word not in text, '%s names %r' % (path.name, word)


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_qemu_img_and_own_workers_are_run(path):
    for node in _process_calls(_tree(path)):
        assert node.func.value.id == 'subprocess', (
            '%s:%d uses os.%s' % (path.name, node.lineno, node.func.attr))
        argv = node.args[0] if node.args else None
        first = None
        if isinstance(argv, ast.List) and argv.elts:
            first = argv.elts[0]
        elif isinstance(argv, ast.Name):
            first = argv          # qemu_img() builds ['qemu-img'] + args
        ok = (isinstance(first, ast.Attribute) and ast.unparse(first) == 'sys.executable') \
            or (isinstance(first, ast.Name) and path.name == 'image.py'
                and "['qemu-img'] + list(args)" in path.read_text())
        assert ok, '%s:%d runs %s' % (path.name, node.lineno, ast.unparse(node.args[0]))


@pytest.mark.parametrize('name', GUEST_PATH_MODULES)
def test_guest_path_modules_never_touch_host_paths(name):
    imported = _imported(_tree(PACKAGE / name))
    assert not imported & {'os', 'os.path', 'pathlib', 'shutil', 'glob', 'subprocess'}, (
        '%s imports host file modules: guest paths are resolved in the appliance only'
        % name)


def test_appliance_sources_found():
    names = {path.name for path in APPLIANCE_SOURCES}
    assert {'session.py', 'channel.py', 'worker.py'} <= names


@pytest.mark.parametrize('path', APPLIANCE_SOURCES, ids=lambda p: p.name)
def test_only_the_appliance_worker_does_the_injection(path):
    """The parent only follows the worker's messages: what is written into a guest is
    decided and done in the worker process, next to its appliance."""
    imports = 'inject.injection' in _imported(_tree(path))
    assert imports == (path.name == 'worker.py'), (
        '%s %s inject.injection' % (path.name, 'imports' if imports else 'no longer imports'))


@pytest.mark.parametrize('path', APPLIANCE_SOURCES, ids=lambda p: p.name)
def test_the_appliance_worker_is_started_in_one_place(path):
    """Only channel.py starts a process: ``python -m`` the project's worker module."""
    calls = [ast.unparse(node) for node in _process_calls(_tree(path))]
    if path.name != 'channel.py':
        assert calls == [], '%s starts processes: %s' % (path.name, calls)
        return
    assert len(calls) == 1 and calls[0].startswith(
        "subprocess.Popen([sys.executable, '-m', WORKER_MODULE]"), calls


def test_the_only_vfs_driver_is_libguestfs():
    from importlib import metadata
    drivers = {ep.name: ep.value for ep in metadata.entry_points(group='inject.vfs')}
    assert drivers == {'guestfs': 'inject.vfs.guestfs:GuestFSDriver'}


def test_the_guestfs_driver_uses_host_paths_only_for_its_cache():
    source = (PACKAGE / 'vfs' / 'guestfs.py').read_text()
    uses = [line.strip() for line in source.splitlines() if 'os.' in line and
            not line.strip().startswith('#')
            and 'os.environ' not in line]     # supermin's kernel variables, for launch
    assert uses == ['os.makedirs(settings.cache_dir, mode=0o700, exist_ok=True)'], uses


def test_no_mount_syscall_through_ctypes():
    for path in SOURCES:
        tree = _tree(path)
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        assert 'ctypes' not in names, '%s imports ctypes' % path.name


# --- tools/ keeps to the same rule ------------------------------------------------------

TOOLS = PACKAGE.parent / 'tools'
TOOL_SOURCES = sorted(p for p in TOOLS.iterdir() if p.suffix in ('.py', '.sh'))
MOUNT_COMMANDS = ('mount', 'umount')


def test_tool_sources_found():
    names = {path.name for path in TOOL_SOURCES}
    assert {'guest_image.py', 'guest_boot.py', 'setup.sh'} <= names


@pytest.mark.parametrize('path', TOOL_SOURCES, ids=lambda p: p.name)
def test_no_tool_names_a_mount_tool(path):
    text = path.read_text()
    for word in FORBIDDEN_WORDS:
        assert word not in text, '%s names %r' % (path.name, word)
    if path.suffix == '.py':
        for node in _process_calls(_tree(path)):
            argv = node.args[0] if node.args else None
            first = argv.elts[0] if isinstance(argv, ast.List) and argv.elts else argv
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                assert first.value.split(' ')[0] not in MOUNT_COMMANDS, (
                    '%s:%d runs %r' % (path.name, node.lineno, first.value))
    else:
        for line in text.splitlines():
            words = line.split('#', 1)[0].replace(';', ' ').replace('|', ' ').split()
            assert not set(words) & set(MOUNT_COMMANDS), (
                '%s runs a mount command: %s' % (path.name, line.strip()))


def test_the_guest_image_is_built_without_a_host_mount():
    """mmdebstrap only in unshare mode: the chroot's /proc, /dev... are mounted in its
    own mount namespace (root and sudo mode mount them on the host), and the image is
    written with libguestfs's tar-in."""
    text = (TOOLS / 'guest_image.py').read_text()
    assert "'mmdebstrap', '--mode=unshare'" in text
    for mode in ('root', 'sudo', 'auto', 'chrootless', 'fakechroot', 'fakeroot'):
        assert '--mode=%s' % mode not in text
    builder = (PACKAGE / 'imagebuilder.py').read_text()
    assert "g.tar_in(spec['tarball'], '/'" in builder
