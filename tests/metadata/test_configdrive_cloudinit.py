"""cloud-init reads our config drives: the ISO is built, unpacked with pycdlib, and the
tree given to cloud-init's own ConfigDrive reader (Debian's cloud-init 22.4.2)."""

import base64
import os

import pytest

from inject.metadata import base
from inject.metadata import configdrive
from inject.metadata import instance
from inject.metadata import vendordata

pytestmark = pytest.mark.cloudinit

UUID = '3c1a8f2e-6d5b-4f1e-9a7c-0b2d4e6f8a10'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0c2d3bW9ja2tleWRhdGFmb3J0ZXN0cw== k@h\n'
STATIC_CC = '#cloud-config\npackages: [htop]\n'
DYNAMIC_CC = '#cloud-config\nruncmd: [echo dynamic]\n'


class Vendor(vendordata.VendorDataProvider):
    def static(self, info):
        return {'cloud-init': STATIC_CC}

    def v2(self, info):
        return {'static': self.static(info), 'cloud-init': DYNAMIC_CC,
                'testing': {'a': 1, 'b': 'foo'}}


def _server(**over):
    values = dict(uuid=UUID, name='web 1', hostname='web-1', project_id='p1',
                  user_id='u1', image_id='70a599e0-31e7-49b7-b260-868f441e862b',
                  user_data=b'#!/bin/sh\necho from-user-data\n',
                  metadata={'role': 'webserver', 'dsmode': 'local'},
                  files=[('/etc/inject/%d.conf' % i, ('file %d\n' % i).encode())
                         for i in range(4)] + [('/root/blob', bytes(range(256)))],
                  admin_pass='s3cret')
    values.update(over)
    info = instance.InstanceInfo(**values)
    return info


def _tree(tmp_path, md):
    iso = str(tmp_path / 'disk.config')
    configdrive.build_config_drive(md, iso)
    return configdrive.extract_config_drive(iso, str(tmp_path / 'tree'))


def _b(value):
    return base64.b64decode(value['b64'])


def test_cloud_init_reads_a_full_config_drive(tmp_path, cloudinit_read):
    info = _server()
    info.add_keypair('mykey', KEY)
    out = cloudinit_read(_tree(tmp_path, base.InstanceMetadata(info, vendordata=Vendor())))
    assert out['cloudinit_version'].startswith('22.4')
    assert out['working_version'] == '2018-08-27'      # the newest cloud-init knows
    res = out['result']
    assert res['version'] == 2
    md = res['metadata']
    assert md['instance-id'] == md['uuid'] == UUID
    assert md['local-hostname'] == 'web-1.novalocal'
    assert md['public_keys'] == {'mykey': KEY}
    assert md['admin_pass'] == 's3cret'
    assert res['dsmode'] == 'local'
    assert _b(res['userdata']) == b'#!/bin/sh\necho from-user-data\n'
    files = {path: _b(data) for path, data in res['files'].items()}
    assert files == dict(info.files)
    assert res['vendordata'] == {'cloud-init': STATIC_CC}
    assert res['vendordata2']['testing'] == {'a': 1, 'b': 'foo'}
    assert out['vendordata_raw'] == STATIC_CC          # what cloud-init would run
    assert out['vendordata2_raw'] == DYNAMIC_CC
    assert res['networkdata'] == {}
    assert res['ec2-metadata']['instance-id'] == 'i-3c1a8f2e'
    assert res['ec2-metadata']['public-keys'] == {'0': {'openssh-key': KEY}}


def test_cloud_init_reads_a_bare_config_drive(tmp_path, cloudinit_read):
    info = _server(user_data=None, files=[], metadata={}, admin_pass=None)
    out = cloudinit_read(_tree(tmp_path, base.InstanceMetadata(info)))
    res = out['result']
    assert res['version'] == 2
    assert res['metadata']['instance-id'] == UUID
    assert 'public_keys' not in res['metadata']
    assert res['userdata'] == '' and res['files'] == {}
    assert res['vendordata'] == {} and res['vendordata2'] == {}
    assert out['vendordata_raw'] is None and out['vendordata2_raw'] is None


def test_the_oracle_rejects_a_broken_tree(tmp_path, cloudinit_read):
    """Control: cloud-init does fail on what it must not accept (invalid JSON in an
    optional file fails the whole datasource), so the passes above mean something."""
    tree = _tree(tmp_path, base.InstanceMetadata(_server()))
    with open(os.path.join(tree, 'openstack', '2018-08-27', 'vendor_data2.json'), 'w') as f:
        f.write('{')
    with pytest.raises(AssertionError, match='BrokenMetadata'):
        cloudinit_read(tree)
