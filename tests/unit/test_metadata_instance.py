"""InstanceInfo: a server record mapped to what the metadata tree is made of."""

import base64
import datetime

import pytest

from inject import encoding
from inject import exception
from inject.db import models
from inject.metadata import instance

UUID = 'b65cee2f-8c69-4aeb-be2f-f79742548fc2'
IMAGE = '70a599e0-31e7-49b7-b260-868f441e862b'


def _row(**over):
    values = dict(
        uuid=UUID, project_id='f7ac731cc11f40efbc03a9f9e1d1d21f', user_id='u1',
        name='My Test_Server', vm_state='building', image_ref=IMAGE,
        flavor={'id': '1', 'name': 'm1.tiny'}, availability_zone='az1',
        user_data=base64.b64encode(b'#!/bin/sh\necho hi\n').decode(), key_name=None,
        created_at=datetime.datetime(2026, 1, 2, 3, 4, 5))
    values.update(over)
    row = models.Instance(**values)
    row.metadata_items = [models.InstanceMetadata(key='role', value='webserver')]
    row.system_metadata_items = [
        models.InstanceSystemMetadata(key='image_base_image_ref', value=IMAGE),
        models.InstanceSystemMetadata(key='boot_roles', value='reader,member'),
        models.InstanceSystemMetadata(key='reservation_id', value='r-5x0j2k9q'),
        models.InstanceSystemMetadata(key='launch_index', value='2'),
        models.InstanceSystemMetadata(key='password_1', value='-second'),
        models.InstanceSystemMetadata(key='password_0', value='first')]
    return row


def test_from_db_maps_the_record():
    info = instance.InstanceInfo.from_db(_row())
    assert info.uuid == UUID
    assert info.name == 'My Test_Server'
    assert info.project_id == 'f7ac731cc11f40efbc03a9f9e1d1d21f'
    assert info.user_id == 'u1'
    assert info.image_id == IMAGE
    assert info.availability_zone == 'az1'
    assert info.created_at == datetime.datetime(2026, 1, 2, 3, 4, 5)
    # a multi-create's reservation and this server's place in it, as stored
    assert info.launch_index == 2
    assert info.reservation_id == 'r-5x0j2k9q'
    assert info.user_data == b'#!/bin/sh\necho hi\n'
    assert info.user_data_b64 == _row().user_data          # the stored text, for POSTs
    assert info.metadata == {'role': 'webserver'}           # system metadata not exposed
    assert info.boot_roles == ['reader', 'member']
    assert info.boot_roles_text == 'reader,member'
    assert info.password == 'first-second'                 # password_0..3 in key order
    assert info.flavor_name == 'm1.tiny'
    assert info.network_data is None and info.admin_pass is None
    assert info.public_keys == {} and info.keys == [] and info.files == []


def test_hostname_is_nova_s_sanitised_name():
    for name, host in (('My Test_Server', 'my-test-server'),
                       ('..weird!!name--', 'weirdname'), ('', 'server-' + UUID),
                       ('x' * 80, 'x' * 63), ('ok.host', 'ok.host')):
        assert instance.InstanceInfo.from_db(_row(name=name)).hostname == host


def test_from_db_without_user_data_roles_or_metadata():
    row = _row(user_data=None)
    row.metadata_items = []
    row.system_metadata_items = []
    info = instance.InstanceInfo.from_db(row)
    assert info.user_data is None and info.user_data_b64 is None
    assert info.boot_roles == [] and info.boot_roles_text == ''
    assert info.metadata == {} and info.password == ''
    assert info.launch_index == 0 and info.reservation_id is None


def test_from_db_files_key_admin_pass_and_network_data():
    row = _row(key_name='k1', key_data='ssh-ed25519 AAAA k1\n', key_type='ssh')
    row.files = [models.InstanceFile(position=0, path='/etc/a', contents=b'A'),
                 models.InstanceFile(position=1, path='/etc/b',
                                     contents='B\u00e9'.encode())]
    info = instance.InstanceInfo.from_db(row, admin_pass='s3cret',
                                         network_data={'links': []})
    assert info.files == [('/etc/a', b'A'), ('/etc/b', 'B\u00e9'.encode())]
    assert info.public_keys == {'k1': 'ssh-ed25519 AAAA k1\n'}
    assert info.keys == [{'name': 'k1', 'type': 'ssh', 'data': 'ssh-ed25519 AAAA k1\n'}]
    assert info.key_name == 'k1'
    assert info.admin_pass == 's3cret'
    assert info.network_data == {'links': []}


def test_a_key_name_without_a_kept_key_gives_no_public_keys():
    # The record is the one source: a key pair of that name is not looked up.
    info = instance.InstanceInfo.from_db(_row(key_name='k1'))
    assert info.public_keys == {} and info.keys == []


@pytest.mark.parametrize('stored', ['not base64!', 'YWJj=', 'YW Jj!'])
def test_stored_user_data_that_is_not_base64_is_a_clear_error(stored):
    # The decoder is inject.encoding's, the one that validated it at the API: what
    # the API refuses, the metadata never reads leniently.
    with pytest.raises(exception.InvalidRequest, match='user_data is not base64'):
        instance.InstanceInfo.from_db(_row(user_data=stored))


def test_stored_user_data_is_decoded_by_the_api_s_decoder(monkeypatch):
    seen = []
    real = encoding.b64decode
    monkeypatch.setattr(encoding, 'b64decode', lambda text: seen.append(text) or real(text))
    row = _row()
    assert instance.InstanceInfo.from_db(row).user_data == b'#!/bin/sh\necho hi\n'
    assert seen == [row.user_data]


def test_user_data_must_be_bytes_and_files_pairs_of_bytes():
    with pytest.raises(TypeError, match='user_data must be bytes'):
        instance.InstanceInfo(uuid=UUID, name='n', hostname='n', project_id='p',
                              user_id='u', user_data='text')
    with pytest.raises(TypeError, match=r'\(path, bytes\)'):
        instance.InstanceInfo(uuid=UUID, name='n', hostname='n', project_id='p',
                              user_id='u', files=[('/a', 'text')])


def test_user_data_b64_derived_when_not_stored():
    info = instance.InstanceInfo(uuid=UUID, name='n', hostname='n', project_id='p',
                                 user_id='u', user_data=b'\x00\xff')
    assert info.user_data_b64 == 'AP8='


def test_add_keypair_and_ec2_identifiers():
    info = instance.InstanceInfo(uuid=UUID, name='n', hostname='n', project_id='p',
                                 user_id='u', image_id=IMAGE)
    info.add_keypair('mykey', 'ssh-rsa AAA\n')
    assert info.key_name == 'mykey'
    assert info.public_keys == {'mykey': 'ssh-rsa AAA\n'}
    assert info.keys == [{'name': 'mykey', 'type': 'ssh', 'data': 'ssh-rsa AAA\n'}]
    assert info.ec2_instance_id == 'i-b65cee2f'
    assert info.ec2_ami_id == 'ami-70a599e0'
    other = instance.InstanceInfo(uuid=UUID, name='n', hostname='n', project_id='p',
                                  user_id='u', image_id='not-a-uuid')
    assert other.ec2_ami_id.startswith('ami-') and len(other.ec2_ami_id) == 12
