"""The inspection cache: a base image's key, and the JSON file of remembered layouts."""

import json
import os

import pytest

from inject import image
from inject import inspection_cache
from inject.inspection_cache import InspectionCache

LAYOUT = [('/', 'part:2'), ('/boot', 'part:1')]


@pytest.fixture
def base(tmp_path):
    path = tmp_path / 'base.raw'
    path.write_bytes(b'A' * 4096)
    return path


def chain(*paths, fmt='raw'):
    return [image.DiskImage(str(p), fmt) for p in paths]


@pytest.mark.parametrize('empty', [None, []])
def test_no_backing_file_no_key(empty):
    assert inspection_cache.key_for(empty) is None


def test_key_is_stable_and_names_the_base(base):
    key = inspection_cache.key_for(chain(base))
    assert key == inspection_cache.key_for(chain(base))
    assert key.startswith('raw:') and key.endswith(':base.raw')


def test_key_is_the_last_image_of_the_chain(tmp_path, base):
    middle = tmp_path / 'middle.qcow2'
    middle.write_bytes(b'M' * 512)
    other = tmp_path / 'other.qcow2'
    other.write_bytes(b'O' * 512)
    assert inspection_cache.key_for(chain(middle, base)) == \
        inspection_cache.key_for(chain(other, base))


def test_key_changes_with_the_mtime(base):
    key = inspection_cache.key_for(chain(base))
    st = base.stat()
    os.utime(base, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert inspection_cache.key_for(chain(base)) != key


def test_key_changes_with_the_content_even_at_the_same_size_and_mtime(base):
    key = inspection_cache.key_for(chain(base))
    st = base.stat()
    with open(base, 'r+b') as f:
        f.write(b'B')
    os.utime(base, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert base.stat().st_size == st.st_size
    assert inspection_cache.key_for(chain(base)) != key


def test_key_changes_when_the_base_is_replaced(tmp_path, base):
    key = inspection_cache.key_for(chain(base))
    st = base.stat()
    new = tmp_path / 'new'
    new.write_bytes(b'A' * 4096)
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, base)                     # same name, size, mtime, content; new inode
    assert inspection_cache.key_for(chain(base)) != key


def test_key_changes_with_the_format(base):
    assert inspection_cache.key_for(chain(base)) != \
        inspection_cache.key_for(chain(base, fmt='qcow2'))


@pytest.fixture
def cache(tmp_path):
    return InspectionCache(str(tmp_path / 'state' / 'inspection-cache.json'))


def test_get_of_a_missing_file_or_key(cache):
    assert cache.get('k') is None
    assert cache.get(None) is None


def test_put_then_get(cache):
    cache.put('k', LAYOUT)
    assert cache.get('k') == LAYOUT
    assert cache.get('other') is None
    # another instance (another process) reads the same file
    assert InspectionCache(cache.path).get('k') == LAYOUT
    assert json.loads(open(cache.path).read()) == {'k': [list(m) for m in LAYOUT]}
    assert [n for n in os.listdir(os.path.dirname(cache.path))] == [
        'inspection-cache.json']                                  # no temporary left


def test_put_replaces(cache):
    cache.put('k', LAYOUT)
    cache.put('k', [('/', 'lv:vg/root')])
    assert cache.get('k') == [('/', 'lv:vg/root')]


@pytest.mark.parametrize('key, layout', [(None, LAYOUT), ('k', []), ('k', None)])
def test_put_ignores_no_key_or_no_layout(cache, key, layout):
    cache.put(key, layout)
    assert not os.path.exists(cache.path)


@pytest.mark.parametrize('text', ['{not json', '[1, 2]', '', '"x"'])
def test_corrupt_file_reads_as_empty_and_is_rewritten(cache, text):
    os.makedirs(os.path.dirname(cache.path))
    with open(cache.path, 'w') as f:
        f.write(text)
    assert cache.get('k') is None
    cache.put('k', LAYOUT)
    assert cache.get('k') == LAYOUT
    assert json.loads(open(cache.path).read()) == {'k': [list(m) for m in LAYOUT]}


@pytest.mark.parametrize('entry', [[], 'part:1', [['/']], [['/', 'part:1', 'x']], ['/'],
                                   {'/': 'part:1'}])
def test_malformed_entry_is_no_layout(cache, entry):
    os.makedirs(os.path.dirname(cache.path))
    with open(cache.path, 'w') as f:
        json.dump({'k': entry, 'good': [['/', 'part:1']]}, f)
    assert cache.get('k') is None
    assert cache.get('good') == [('/', 'part:1')]


def test_max_entries_evicts_the_oldest(tmp_path):
    cache = InspectionCache(str(tmp_path / 'c.json'), max_entries=2)
    cache.put('a', LAYOUT)
    cache.put('b', LAYOUT)
    cache.put('c', LAYOUT)
    assert [cache.get(k) for k in 'abc'] == [None, LAYOUT, LAYOUT]


def test_put_again_makes_an_entry_the_newest(tmp_path):
    cache = InspectionCache(str(tmp_path / 'c.json'), max_entries=2)
    cache.put('a', LAYOUT)
    cache.put('b', LAYOUT)
    cache.put('a', LAYOUT)
    cache.put('c', LAYOUT)
    assert [cache.get(k) for k in 'abc'] == [LAYOUT, None, LAYOUT]
