"""Requests over RPC: InjectionRequest <-> JSON-safe dict."""

import copy
import json

import pytest

from inject import exception
from inject import image
from inject.agent import payload
from inject.request import InjectionRequest

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPayloadTestKeyPayloadTestKeyPayload00 p@t'


def full_request(**kwargs):
    return InjectionRequest(
        image.DiskImage('/var/lib/nova/instances/u/disk', 'qcow2'),
        files=[('/etc/motd', b'\x00\xff binary \n'), ('/etc/app.ini', 'text é\n')],
        key=KEY, net=b'auto lo\niface lo inet loopback\n', metadata={'role': 'web'},
        admin_password='s3cret', partition=3, request_id='req-1', **kwargs)


def wire(req, **kwargs):
    """What the other side of the RPC gets: the dict, through JSON."""
    return json.loads(json.dumps(payload.to_dict(req, **kwargs)))


def test_round_trip():
    original = full_request()
    data = wire(original, instance_id='i-1', project_id='p-1')
    assert (data['instance_id'], data['project_id']) == ('i-1', 'p-1')
    back = payload.from_dict(data)
    assert (back.image.path, back.image.format) == (original.image.path, 'qcow2')
    assert back.files == [('/etc/motd', b'\x00\xff binary \n'),
                          ('/etc/app.ini', 'text é\n'.encode('utf-8'))]
    assert back.net == original.net and isinstance(back.net, bytes)
    assert back.key == original.key
    assert back.metadata == {'role': 'web'}
    assert back.admin_password == 's3cret'
    assert (back.partition, back.request_id) == (3, 'req-1')


def test_contents_travel_as_base64_text():
    data = payload.to_dict(full_request())
    assert data['files'][0] == {'path': '/etc/motd', 'contents': 'AP8gYmluYXJ5IAo='}
    assert isinstance(data['net'], str)


def test_round_trip_of_an_empty_request():
    req = InjectionRequest(image.DiskImage('/d.raw', 'raw'))
    data = wire(req)
    assert data['instance_id'] is None and data['project_id'] is None
    back = payload.from_dict(data)
    assert back.files == [] and back.net is None and back.key is None
    assert back.metadata is None and back.admin_password is None
    assert back.partition is None and back.request_id is None


def test_partition_0_survives():
    req = InjectionRequest(image.DiskImage('/d.raw', 'raw'), partition=0)
    assert payload.from_dict(wire(req)).partition == 0


@pytest.mark.parametrize('text', ['not base64!', 'aGk', 'é', 'aGk=!', 'aGk==', 'YR=='])
def test_invalid_base64_names_the_file(text):
    data = wire(full_request())
    data['files'][1]['contents'] = text         # the last three decode unless strict
    with pytest.raises(exception.InvalidRequest, match='file /etc/app.ini is not valid'):
        payload.from_dict(data)


def test_invalid_base64_net():
    data = wire(full_request())
    data['net'] = 'é'
    with pytest.raises(exception.InvalidRequest, match='network config is not valid'):
        payload.from_dict(data)


@pytest.mark.parametrize('mangle, field', [
    (lambda d: d.pop('image'), 'image is missing'),
    (lambda d: d['image'].pop('format'), 'image.format is missing'),
    (lambda d: d['image'].pop('path'), 'image.path is missing'),
    (lambda d: d['image'].__setitem__('path', 5), 'image.path must be a string, not int'),
    (lambda d: d['files'][0].pop('path'), 'files[0].path is missing'),
    (lambda d: d['files'][1].pop('contents'), 'files[1].contents is missing'),
    (lambda d: d['files'][0].__setitem__('contents', 5),
     'file /etc/motd is not valid base64'),
    (lambda d: d.__setitem__('files', 'x'), 'files must be a list, not str'),
    (lambda d: d['files'].__setitem__(1, 'x'), 'files[1] must be an object, not str'),
    (lambda d: d.__setitem__('key', 5), 'key must be a string, not int'),
    (lambda d: d.__setitem__('request_id', []), 'request_id must be a string, not list'),
], ids=['image', 'format', 'path', 'path not text', 'file path', 'file contents',
        'contents not text', 'files not a list', 'file not an object', 'key not text',
        'request_id not text'])
def test_missing_or_mistyped_fields_are_invalid_requests_naming_the_field(mangle, field):
    data = copy.deepcopy(wire(full_request()))
    mangle(data)
    with pytest.raises(exception.InvalidRequest) as e:
        payload.from_dict(data)
    assert field in str(e.value)


def test_each_byte_string_is_decoded_once(monkeypatch):
    decoded = []
    real = payload.encoding.b64decode
    monkeypatch.setattr(payload.encoding, 'b64decode',
                        lambda text: decoded.append(text) or real(text))
    data = wire(full_request())
    payload.from_dict(data)
    assert sorted(decoded) == sorted([f['contents'] for f in data['files']] + [data['net']])


@pytest.mark.parametrize('data, why', [
    (None, 'the payload must be an object, not NoneType'),
    ([], 'the payload must be an object, not list'),
    ('x', 'the payload must be an object, not str'),
    ({'image': 'x'}, 'image must be an object, not str'),
])
def test_not_a_dict_is_an_invalid_request(data, why):
    with pytest.raises(exception.InvalidRequest, match='malformed request payload') as e:
        payload.from_dict(data)
    assert why in str(e.value)


def test_request_checks_still_apply():
    data = wire(full_request())
    data['files'][0]['path'] = '/etc/../../x'
    with pytest.raises(exception.InvalidGuestPath):
        payload.from_dict(data)
    data = wire(full_request())
    data['image']['format'] = 'vmdk'
    with pytest.raises(exception.InvalidImage):
        payload.from_dict(data)


@pytest.mark.parametrize('mangle, field', [
    (lambda d: d['image'].__setitem__('path', '/images/d\0.qcow2'),
     'image.path contains a NUL byte'),
    (lambda d: d['image'].__setitem__('path', ''), 'image.path is empty'),
    (lambda d: d['image'].__setitem__('path', '/' + 'a' * 5000),
     'image.path is longer than 4096 bytes'),
    (lambda d: d.__setitem__('net', 5), 'network config is not valid base64 (not a string)'),
    (lambda d: d.__setitem__('project_id', ['p']), 'project_id must be a string, not list'),
], ids=['NUL in image path', 'empty image path', 'huge image path', 'net not text',
        'project not text'])
def test_hostile_fields_are_invalid_requests_naming_the_field(mangle, field):
    data = copy.deepcopy(wire(full_request(), project_id='p'))
    mangle(data)
    with pytest.raises(exception.InvalidRequest) as e:
        payload.from_dict(data)
        payload.project_of(data)
    assert field in str(e.value)


def test_the_project_of_a_payload():
    assert payload.project_of(wire(full_request(), project_id='p1')) == 'p1'
    assert payload.project_of(wire(full_request())) == '-'
    assert payload.project_of(None) == '-'
