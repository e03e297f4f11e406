"""Booting what inject prepared: one Debian guest image (tools/guest_image.py, built from
Debian's packages, cached between runs in GUEST_STATE), booted under qemu by
tools/guest_boot.py, looked at from inside over SSH and the serial console.

Every test here is marked ``integration`` and ``guest`` (slow: an image build of 4-6
minutes when the recipe is new, 1-3 minutes per boot under TCG). A failure names its
step (image, boot, ssh, serial login, check: ...) and the guest's serial console log,
kept in ``GUEST_STATE/logs/<guest>/`` (with qemu's own log) until that guest boots again.
"""

import os
import shutil
import sys

import pytest

from inject import appliance
from inject import image as image_mod
from tests import tools

guest_boot = tools.load('guest_boot')
guest_image = tools.load('guest_image')

#: The state_path whose guest-image/ cache the tests share (kept between runs, as the
#: appliance's cache is).
GUEST_STATE = os.environ.get("INJECT_TEST_GUEST_STATE", "/var/tmp/inject-tests/guest")
APPLIANCE_CACHE = '/var/tmp/inject-tests/appliance'


def pytest_collection_modifyitems(items):
    for item in items:
        if 'tests/guest/' in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.guest)


@pytest.fixture(scope='session')
def guest_settings():
    """The appliance settings (accelerator rules, cache_dir) the guests boot with."""
    conf = guest_image.load_conf(state_path=GUEST_STATE)
    conf.set_override('cache_dir', APPLIANCE_CACHE, 'appliance')
    return appliance.Settings.from_conf(conf)


@pytest.fixture(scope='session')
def guest_image_built(guest_settings):
    """The bootable Debian image (:class:`guest_image.Image`), from the cache or built."""
    try:
        return guest_image.ensure(GUEST_STATE, guest_settings, say=print)
    except guest_image.BuildError as e:
        pytest.fail(str(e), pytrace=False)


def venv_bin(name):
    """A console script of this virtualenv (inject, inject-api, nova...)."""
    return os.path.join(os.path.dirname(sys.executable), name)


def overlay(path, backing):
    """A qcow2 at ``path`` whose writes stay out of ``backing`` (a qcow2)."""
    image_mod.create_overlay(image_mod.DiskImage(backing, 'qcow2'), path)
    return path


@pytest.fixture
def ssh_key(tmp_path):
    """(private key path, public key line) of a fresh ed25519 key pair."""
    return guest_boot.ssh_keygen(str(tmp_path / 'id_ed25519'), 'guest-test')


@pytest.fixture
def boot(guest_image_built, guest_settings):
    """``boot(disk, name, **Guest options)``: a started :class:`guest_boot.Guest`
    (killed, with its process group, when the test ends)."""
    started = []

    def start(disk, name, **kwargs):
        logs = os.path.join(GUEST_STATE, 'logs', name)
        shutil.rmtree(logs, ignore_errors=True)
        guest = guest_boot.Guest(guest_image_built, disk, logs, guest_settings, name=name,
                                 say=print, **kwargs)
        started.append(guest)
        return guest.start()

    yield start
    for guest in started:
        guest.kill()


def expect(guest, step, ok, detail=''):
    """Fail naming ``step`` and the guest's serial log unless ``ok``."""
    if not ok:
        pytest.fail(str(guest_boot.GuestError('check: ' + step, detail, guest.serial_log)),
                    pytrace=False)


def cloud_init_timing(guest, user, key):
    """What cloud-init says of its boot: ``cloud-init analyze show`` and ``blame``."""
    show = guest.ssh('sudo -n cloud-init analyze show', user, key, check=False)
    blame = guest.ssh('sudo -n cloud-init analyze blame', user, key, check=False)
    text = '%s\n%s' % (show.stdout, blame.stdout)
    print('--- cloud-init analyze (%s) ---\n%s' % (guest.name, text))
    return text
