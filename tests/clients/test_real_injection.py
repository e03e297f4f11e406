"""The whole path for real, once: ``nova boot --file`` at 2.56 against inject-api with
injection enabled, the real appliance writing into the instance disk (a qcow2 overlay
on the base image), then a rebuild with another file (``nova rebuild --file``), and both
disks read back. Four appliance launches (build, boot, rebuild, read): the expensive
test of this directory."""

import shutil

import pytest

from inject import appliance
from inject import imagebuilder
from tests.api.support import make_conf
from tests.clients.conftest import APPLIANCE_CACHE, InjectApi


@pytest.mark.integration
def test_boot_with_file_then_rebuild_injects_for_real(tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    conf = make_conf(tmp_path, **{'appliance.cache_dir': APPLIANCE_CACHE})
    settings = appliance.Settings.from_conf(conf)
    imagebuilder.build([{'path': str(images / 'debian.qcow2'), 'layout': 'mbr-linux',
                         'format': 'qcow2', 'size_mb': 128}], settings)
    api = InjectApi(tmp_path, '[injection]\ninject_partition = 1\nimage_dirs = %s\n'
                    % images)
    try:
        motd = tmp_path / 'motd'
        motd.write_text('booted by novaclient\n')
        _, out = api.nova('boot', '--image', 'debian', '--flavor', '1', '--file',
                          '/etc/booted-by=%s' % motd, '--poll', 'real-vm', version='2.56')
        server_id = next(line.split('|')[2].strip() for line in out.splitlines()
                         if line.startswith('| id '))
        server = api.wait_status(server_id)
        assert server['status'] == 'ACTIVE', server.get('fault')
        disk = tmp_path / 'instances' / server_id / 'disk'
        booted = tmp_path / 'booted.qcow2'
        shutil.copyfile(disk, booted)      # the overlay; its backing file stays put

        issue = tmp_path / 'issue'
        issue.write_text('rebuilt\n')
        api.nova('rebuild', '--file', '/etc/rebuilt-by=%s' % issue, '--poll', server_id,
                 'debian', version='2.56')
        server = api.wait_status(server_id)
        assert server['status'] == 'ACTIVE', server.get('fault')
    finally:
        api.stop()

    files = ['/etc/booted-by', '/etc/rebuilt-by']
    first, second = imagebuilder.read_back(
        [{'path': str(booted), 'format': 'qcow2', 'partition': 1, 'files': files},
         {'path': str(disk), 'format': 'qcow2', 'partition': 1, 'files': files}],
        settings)
    assert first['/etc/booted-by']['content'] == b'booted by novaclient\n'
    assert first['/etc/booted-by']['mode'] == 0o644
    assert first['/etc/rebuilt-by'] is None
    # the rebuild started again from the image: the old file is gone, the new one there
    assert second['/etc/booted-by'] is None
    assert second['/etc/rebuilt-by']['content'] == b'rebuilt\n'
