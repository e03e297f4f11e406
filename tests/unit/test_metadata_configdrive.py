"""The config drive image: ISO 9660 + Joliet + Rock Ridge, label config-2, read back
with pycdlib and blkid; written atomically and bounded."""

import io
import os
import re
import shutil
import subprocess

import pycdlib
import pytest

from inject import exception
from inject.metadata import base
from inject.metadata import configdrive
from tests.unit import test_metadata_base as mdt


@pytest.fixture
def drive(tmp_path):
    md = mdt.md_of()
    path = tmp_path / 'disk.config'
    size = configdrive.build_config_drive(md, str(path))
    return md, path, size


def _walk(path, **kw):
    iso = pycdlib.PyCdlib()
    with open(path, 'rb') as f:
        iso.open_fp(f)
        try:
            names = []
            for key in kw:
                for d, _dirs, files in iso.walk(**{key: kw[key]}):
                    names += [os.path.join(d, n) for n in files]
            flags = (iso.has_rock_ridge(), iso.has_joliet(), iso.pvd.volume_identifier)
        finally:
            iso.close()
    return names, flags


def test_read_back_gives_every_file_with_its_bytes(drive):
    md, path, size = drive
    expected = {}
    for p, data in md.config_drive_files():
        expected[p] = data
    got = configdrive.read_config_drive(str(path))
    assert set(got) == set(expected)
    for p in got:
        if p.endswith('meta_data.json'):    # random_seed differs between renderings
            assert got[p].startswith(b'{"uuid": "%s"' % mdt.UUID.encode())
        else:
            assert got[p] == expected[p], p
    assert got['openstack/content/0001'] == b'\x00\x01'
    assert size == os.path.getsize(path)


def test_rock_ridge_joliet_and_iso9660_names(drive):
    _md, path, _size = drive
    rr, (has_rr, has_joliet, label) = _walk(str(path), rr_path='/')
    joliet, _ = _walk(str(path), joliet_path='/')
    iso, _ = _walk(str(path), iso_path='/')
    assert has_rr and has_joliet
    assert label.decode().rstrip() == 'config-2'
    assert '/openstack/2018-08-27/vendor_data2.json' in rr
    assert '/ec2/latest/meta-data.json' in rr
    assert sorted(rr) == sorted(joliet)
    assert len(iso) == len(rr)
    for name in iso:       # plain ISO 9660 level 3: d-characters only
        assert re.fullmatch(r'(/[A-Z0-9_]{1,31})+\.[A-Z0-9_]*;1', name), name


def test_blkid_sees_label_config_2(drive):
    _md, path, _size = drive
    blkid = shutil.which('blkid') or '/usr/sbin/blkid'
    assert os.path.exists(blkid), 'blkid (util-linux) is needed for this test'
    out = subprocess.run([blkid, str(path)], check=True, capture_output=True,
                         text=True).stdout
    assert 'LABEL="config-2"' in out and 'TYPE="iso9660"' in out


def test_volume_label_and_mode(drive):
    _md, path, _size = drive
    assert configdrive.volume_label(str(path)) == 'config-2'
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_extract_gives_a_tree(drive, tmp_path):
    _md, path, _size = drive
    dest = tmp_path / 'tree'
    configdrive.extract_config_drive(str(path), str(dest))
    assert (dest / 'openstack' / 'latest' / 'user_data').read_bytes() == \
        b'#!/bin/sh\necho hi\n'
    assert sorted(os.listdir(dest)) == ['ec2', 'openstack']


def test_names_that_map_to_the_same_iso_name_stay_apart(tmp_path):
    files = [('d/a-b', b'1'), ('d/a_b', b'2'), ('d/A.B', b'3'), ('d/a.b', b'4'),
             ('d/' + 'x' * 40 + '.json', b'5'), ('d/' + 'x' * 40 + '.jsom', b'6'),
             ('e-f/g', b'7'), ('e_f/g', b'8')]
    path = str(tmp_path / 'disk.config')
    configdrive.write_config_drive(path, files)
    assert configdrive.read_config_drive(path) == dict(files)


def test_rebuild_replaces_the_drive(tmp_path):
    path = str(tmp_path / 'disk.config')
    configdrive.write_config_drive(path, [('openstack/latest/user_data', b'old')])
    configdrive.write_config_drive(path, [('openstack/latest/user_data', b'new')])
    assert configdrive.read_config_drive(path) == {'openstack/latest/user_data': b'new'}
    assert os.listdir(tmp_path) == ['disk.config']


def test_oversized_drive_is_refused_and_nothing_is_written(tmp_path):
    path = str(tmp_path / 'disk.config')
    configdrive.write_config_drive(path, [('a', b'previous')])
    with pytest.raises(exception.ConfigDriveTooLarge) as e:
        configdrive.write_config_drive(path, [('a', b'x' * 300000)], max_bytes=200000,
                                       uuid='u-1')
    assert 'u-1' in str(e.value) and '200000' in str(e.value)
    assert configdrive.read_config_drive(path) == {'a': b'previous'}
    assert os.listdir(tmp_path) == ['disk.config']


def test_default_bound_is_novas_64_mib():
    assert configdrive.MAX_BYTES == 64 * 1024 * 1024
    with pytest.raises(exception.ConfigDriveTooLarge):
        configdrive.build_iso([('big', b'\0' * configdrive.MAX_BYTES)], io.BytesIO())


def test_a_failure_while_building_leaves_nothing(tmp_path):
    class Boom(Exception):
        pass

    def files():
        yield 'a', b'1'
        raise Boom('vendordata target web failed')

    path = str(tmp_path / 'disk.config')
    with pytest.raises(Boom):
        configdrive.write_config_drive(path, files())
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'nowhere' / 'disk.config')
    with pytest.raises(exception.ConfigDriveWriteFailed, match='nowhere/disk.config'):
        configdrive.write_config_drive(path, [('a', b'1')])


@pytest.mark.parametrize('files,match', [
    ([('a', b'1'), ('/a', b'2')], 'given twice'),
    ([('../x', b'1')], 'Invalid config drive path'),
    ([('', b'1')], 'Invalid config drive path'),
])
def test_bad_paths_are_refused(files, match):
    with pytest.raises(exception.InvalidRequest, match=match):
        configdrive.build_iso(files, io.BytesIO())


def test_str_content_is_utf8(tmp_path):
    path = str(tmp_path / 'd')
    configdrive.write_config_drive(path, [('x', 'caf\u00e9')])
    assert configdrive.read_config_drive(path) == {'x': 'caf\u00e9'.encode()}


def test_the_whole_tree_of_a_server_without_anything(tmp_path):
    info = mdt.make_info(user_data=None, files=[], public_keys={}, metadata={})
    md = base.InstanceMetadata(info)
    path = str(tmp_path / 'disk.config')
    configdrive.build_config_drive(md, path)
    got = configdrive.read_config_drive(path)
    assert 'openstack/latest/meta_data.json' in got
    assert not [p for p in got if 'user' in p or 'content' in p]
