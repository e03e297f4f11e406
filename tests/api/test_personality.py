"""Personality files translated once (inject.api.personality): decoded with the strict
decoder, paths normalised, and a 400 naming the file; through the API too."""

import pytest

from inject.api import faults
from inject.api import personality
from tests.api.support import b64


def test_translate_decodes_and_normalises():
    files = personality.translate([{'path': 'etc//motd', 'contents': b64(b'hi\n')},
                                   {'path': '/a/./b', 'contents': 'aGVs\nbG8K'}])
    assert files == [('/etc/motd', b'hi\n'), ('/a/b', b'hello\n')]


@pytest.mark.parametrize('items', [None, []])
def test_translate_nothing(items):
    assert personality.translate(items) == []


@pytest.mark.parametrize('contents', ['YWJj=', 'YWJj==', 'aGVsbG8', 'aGVsbG8=$$%',
                                      'h\u00e9llo==', 'YWJ'])
def test_translate_refuses_bad_base64_naming_the_file(contents):
    with pytest.raises(faults.Fault) as e:
        personality.translate([{'path': '/etc/motd', 'contents': contents}])
    assert e.value.code == 400
    assert e.value.message.startswith(
        'Invalid input for field/attribute contents (personality file /etc/motd). '
        "Value: %s. '%s' is not valid base64: " % (contents, contents))


def test_translate_refuses_bad_path():
    with pytest.raises(faults.Fault) as e:
        personality.translate([{'path': '/etc/../../x', 'contents': b64(b'x')}])
    assert e.value.code == 400
    assert e.value.message.startswith("Invalid personality file path '/etc/../../x': ")


def test_translate_reports_encoding_before_paths():
    # as when the schema checked base64: a bad encoding anywhere wins over a bad path
    with pytest.raises(faults.Fault) as e:
        personality.translate([{'path': '/', 'contents': b64(b'x')},
                               {'path': '/b', 'contents': 'YWJj='}])
    assert 'personality file /b' in e.value.message


@pytest.mark.parametrize('contents', ['YWJj=', 'YWJj=='])
@pytest.mark.parametrize('version', ['2.1', '2.56'])
def test_non_canonical_padding_is_400(api, version, contents):
    resp = api.create(version=version, status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': contents}])
    message = resp.json['badRequest']['message']
    assert 'personality file /etc/motd' in message and 'base64' in message
    assert api.fake.requests == []
    api.create(version=version, personality=[{'path': '/etc/motd', 'contents': 'YWJj'}])
    assert api.fake.requests[-1].files == [('/etc/motd', b'abc')]


def test_rebuild_non_canonical_padding_is_400(api):
    sid = api.create(version='2.56').json['server']['id']
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': {
        'imageRef': api.image_id,
        'personality': [{'path': '/etc/motd', 'contents': 'YWJj=='}]}},
        version='2.56', status=400)
    assert 'personality file /etc/motd' in resp.json['badRequest']['message']


def test_personality_base64_is_strict_and_names_the_file(api):
    resp = api.create(version='2.56', status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': 'aGVsbG8=$$%'}])
    message = resp.json['badRequest']['message']
    assert '/etc/motd' in message and 'base64' in message
    # line breaks as written by base64(1) are fine
    api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': 'aGVs\nbG8K'}])
    assert api.fake.requests[-1].files == [('/etc/motd', b'hello\n')]


def test_personality_bad_padding_refused(api):
    api.create(version='2.1', status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': 'aGVsbG8'}])


def test_personality_extra_key_refused(api):
    api.create(version='2.1', status=400, wait=False, personality=[
        {'path': '/a', 'contents': b64(b'x'), 'mode': '0600'}])


def test_personality_contents_must_be_a_string(api):
    resp = api.create(version='2.1', status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': 5}])
    assert 'contents (personality file /etc/motd)' in resp.json['badRequest']['message']


def test_personality_bad_path_refused(api):
    resp = api.create(version='2.1', status=400, wait=False, personality=[
        {'path': '/etc/../../x', 'contents': b64(b'x')}])
    assert '/etc/../../x' in resp.json['badRequest']['message']
