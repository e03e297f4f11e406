"""The modern path (2.57), booted: a server created through a real inject-api with the
nova CLI -- ``config_drive``, a generated key pair (``key_name``), ``user_data`` (a shell
script that writes a marker) -- with a DynamicJSON vendordata target answering
cloud-config. Injection is off (the default): whatever the guest gets, cloud-init got
from the config drive or the metadata service.

Two boots of the disk inject-api made (each on an overlay of its own, so both start
from what inject-api left): with the config drive as a CD-ROM; and without it, the
metadata service (a real inject-metadata on inject-api's database) reached at
169.254.169.254 through qemu's guestfwd and a Neutron-proxy-like forwarder that adds the
signed instance headers, as Neutron's metadata agent does. The guest looks like a Nova
guest (Nova's SMBIOS product, "OpenStack Nova"), so cloud-init's ds-identify picks the
OpenStack datasource when no config drive is there.
"""

import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.clients.conftest import InjectApi
from tests.guest import conftest
from tests.guest.conftest import expect
from tests.metadata import neutron_proxy
from tests.metadata import service as metadata_service
from tests.metadata import target_app

NAME = 'guest-modern'
USER = 'debian'             # the default user of Debian's cloud-init
MARKER = '/var/lib/inject-user-data-marker'
USER_DATA = '#!/bin/sh\necho "user_data ran on $(hostname)" > %s\n' % MARKER
VENDOR_FILE = '/etc/inject-vendordata'
VENDOR_TEXT = 'written by the vendordata target\'s cloud-config'
#: What the DynamicJSON target answers: cloud-init reads the "cloud-init" key of
#: vendor_data2.json (the target's name) as vendor data.
CLOUD_CONFIG = ('#cloud-config\nwrite_files:\n- path: %s\n  content: "%s\\n"\n'
                % (VENDOR_FILE, VENDOR_TEXT))
#: cloud-init's final message on the console when it found neither source: the guest
#: will never let the key pair in, so the boot fails at once, naming why.
NO_DATASOURCE = [(rb'Datasource DataSourceNone',
                  'cloud-init found no datasource (neither config drive nor metadata '
                  'service)')]
METADATA_NETWORK = {'net': '169.254.169.0/24', 'host': '169.254.169.1',
                    'dhcpstart': '169.254.169.15'}


class Server:
    """What the module's server is: ids, disks, key, the API and the target."""


@pytest.fixture(scope='module')
def server(tmp_path_factory, guest_image_built):
    tmp = tmp_path_factory.mktemp('modern')
    target = target_app.TargetApp()
    with target_app.serve(target) as target_url:
        url = '%s/vendordata?%s' % (target_url, urllib.parse.urlencode(
            {'body': json.dumps(CLOUD_CONFIG)}, quote_via=urllib.parse.quote))
        vendordata = ('vendordata_providers = DynamicJSON\n'
                      'vendordata_dynamic_targets = cloud-init@%s\n' % url)
        api = InjectApi(tmp, extra_conf='[api]\nimage_dir = %s\n%s'
                        % (guest_image_built.directory, vendordata))
        try:
            s = Server()
            s.api, s.target, s.vendordata, s.tmp = api, target, vendordata, tmp
            _, private = api.nova('keypair-add', 'guest-key')
            s.key = str(tmp / 'guest-key.pem')
            with open(os.open(s.key, os.O_WRONLY | os.O_CREAT, 0o600), 'w') as f:
                f.write(private)
            (tmp / 'user-data').write_text(USER_DATA)
            image = os.path.splitext(guest_image_built.info['disk'])[0]
            _, out = api.nova('boot', '--image', image,
                              '--flavor', '1', '--config-drive', 'true', '--user-data',
                              str(tmp / 'user-data'), '--key-name', 'guest-key', '--nic',
                              'none', '--poll', NAME, version='2.57')
            s.id = next(line.split('|')[2].strip() for line in out.splitlines()
                        if line.startswith('| id '))
            found = api.wait_status(s.id)
            assert found['status'] == 'ACTIVE', found.get('fault')
            s.project = found['tenant_id']
            s.disk = str(tmp / 'instances' / s.id / 'disk')
            s.config_drive = str(tmp / 'instances' / s.id / 'disk.config')
            yield s
        finally:
            api.stop()


def _modern_checks(guest, server, datasource):
    """Wait for cloud-init to finish, then check what it did; returns its status."""
    status = guest.ssh('cloud-init status --wait --long', USER, server.key,
                       step='cloud-init status --wait', check=False,
                       timeout=guest.timeout('cloud-init'))
    expect(guest, 'cloud-init finished without errors', status.returncode == 0,
           status.stdout + status.stderr)
    expect(guest, 'cloud-init used the %s datasource' % datasource,
           'DataSource%s' % datasource in status.stdout, status.stdout)
    marker = guest.ssh('cat %s' % MARKER, USER, server.key, step='check: user_data marker')
    expect(guest, 'user_data marker', marker == 'user_data ran on %s\n' % NAME, marker)
    hostname = guest.ssh('hostname', USER, server.key, step='check: hostname').strip()
    expect(guest, 'the hostname is the server\'s', hostname == NAME, hostname)
    vendor = guest.ssh('cat %s' % VENDOR_FILE, USER, server.key,
                       step='check: vendordata cloud-config')
    expect(guest, 'the vendordata\'s cloud-config ran', vendor == VENDOR_TEXT + '\n', vendor)
    conftest.cloud_init_timing(guest, USER, server.key)
    return status.stdout


def test_config_drive_guest(tmp_path, server, boot):
    disk = conftest.overlay(str(tmp_path / 'config-drive.qcow2'), server.disk)
    guest = boot(disk, 'modern-config-drive', config_drive=server.config_drive,
                 openstack_uuid=server.id)
    # the generated key pair's private key logs in as cloud-init's default user
    guest.wait_for_ssh(USER, server.key, fail_on=NO_DATASOURCE)
    _modern_checks(guest, server, 'ConfigDrive')
    # inject-api asked the target once, for this server, at the build
    posts = [r for r in server.target.requests if r['method'] == 'POST']
    assert posts and posts[0]['body']['instance-id'] == server.id, posts


class _Counting:
    """The Neutron proxy, counting the paths the guest asked for."""

    def __init__(self, app):
        self.app = app
        self.paths = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.paths.append(environ.get('PATH_INFO'))
        return self.app(environ, start_response)


def test_metadata_service_guest(tmp_path, server, boot):
    conf = metadata_service.write_conf(
        str(tmp_path / 'metadata.conf'),
        'sqlite:///%s' % (server.tmp / 'inject-api.sqlite'),
        sections={'api': dict(line.split(' = ', 1)
                              for line in server.vendordata.splitlines())})
    with metadata_service.running(conf, str(tmp_path / 'inject-metadata.log')) as (url, _):
        # the service answers this instance only through signed headers
        with pytest.raises(urllib.error.HTTPError) as unsigned:
            urllib.request.urlopen(url + '/openstack/latest/meta_data.json', timeout=30)
        assert unsigned.value.code in (400, 403), unsigned.value
        proxy = _Counting(neutron_proxy.NeutronProxy(
            url, server.id, server.project, metadata_service.SECRET,
            address=METADATA_NETWORK['dhcpstart']))
        with target_app.serve(proxy) as proxy_url:
            port = int(proxy_url.rsplit(':', 1)[1])
            disk = conftest.overlay(str(tmp_path / 'metadata.qcow2'), server.disk)
            guest = boot(disk, 'modern-metadata', openstack_uuid=server.id,
                         network=METADATA_NETWORK,
                         guestfwd=[('169.254.169.254', 80, '127.0.0.1', port)])
            guest.wait_for_ssh(USER, server.key, fail_on=NO_DATASOURCE)
            _modern_checks(guest, server, 'OpenStack')
            cdrom = guest.ssh('blkid -L config-2 || echo none', USER, server.key,
                              step='check: no config drive')
            expect(guest, 'no config drive in this guest', cdrom.strip() == 'none', cdrom)
    asked = set(proxy.paths)
    for path in ('/openstack/latest/meta_data.json', '/openstack/latest/user_data',
                 '/openstack/latest/vendor_data2.json'):
        expect(guest, 'the guest asked the metadata service for %s' % path,
               any(p.endswith(path.split('/latest/')[1]) and p.startswith('/openstack/')
                   for p in asked), sorted(asked))
