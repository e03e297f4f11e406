"""The host's base image cache (inject.compute.imagecache) fetching from a real
inject-api process: one verified download per image and host, however many fetch it
at once (threads and processes); and nothing kept from a download that is wrong
(hash, truncated body, Content-Length, more bytes, a backing file, a format in
disguise, a broken sidecar) or killed, nor for an id that is a path."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from inject import exception
from inject.compute import imagecache
from tests.api import support
from tests.compute.conftest import fetcher_conf, image_id

PYTHON = sys.executable


def _source(api, name='cirros', fmt='qcow2'):
    return api.state / 'images' / ('%s.%s' % (name, fmt))


def _left(cache):
    """Everything in the base directory."""
    return sorted(os.listdir(cache.base_dir)) if os.path.isdir(cache.base_dir) else []


@pytest.fixture
def cache(tmp_path, proxy):
    return imagecache.ImageCache(fetcher_conf(tmp_path / 'host', proxy.url))


def test_fetch_once_into_the_base_cache(cache, image_api, proxy):
    ident = image_id(image_api)
    base = cache.fetch(ident)
    name = hashlib.sha1(ident.encode()).hexdigest()
    assert (base.path, base.format) == (os.path.join(cache.base_dir, name + '.qcow2'),
                                        'qcow2')
    with open(base.path, 'rb') as f:
        assert f.read() == _source(image_api).read_bytes()
    assert oct(os.stat(base.path).st_mode & 0o777) == '0o644'
    assert _left(cache) == [name + '.qcow2']
    assert proxy.downloads == 1
    again = cache.fetch(ident)
    assert again.path == base.path and proxy.downloads == 1      # not refetched
    assert cache.cached(ident).path == base.path


def test_concurrent_fetches_in_threads_download_once(cache, image_api, proxy):
    ident = image_id(image_api)
    start = threading.Barrier(8)
    results, errors = [], []

    def fetch():
        start.wait()
        try:
            results.append(cache.fetch(ident).path)
        except Exception as e:      # shown by the assertion
            errors.append(e)
    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    assert proxy.downloads == 1


FETCH = '''
import sys
from inject.compute import imagecache
from tests.compute.conftest import fetcher_conf
cache = imagecache.ImageCache(fetcher_conf(sys.argv[1], sys.argv[2]))
print('fetching', flush=True)
print(cache.fetch(sys.argv[3]).path, flush=True)
'''


def _fetcher(state, url, ident):
    return subprocess.Popen([PYTHON, '-c', FETCH, str(state), url, ident],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))


def test_concurrent_fetches_in_processes_download_once(tmp_path, image_api, proxy):
    ident = image_id(image_api)
    proxy.mode = 'stall'          # the first download waits: the others must wait too
    procs = [_fetcher(tmp_path / 'host', proxy.url, ident) for _ in range(3)]
    for p in procs:               # each is about to fetch (the lock comes first)
        assert p.stdout.readline() == 'fetching\n'
    deadline = time.monotonic() + 60
    while proxy.downloads < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)                 # the others are at the lock, or past it without one
    proxy.release.set()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert len({out.strip() for out, _ in outs}) == 1
    assert proxy.downloads == 1


def test_a_fetch_killed_midway_leaves_no_base(tmp_path, image_api, proxy):
    ident = image_id(image_api)
    proxy.mode = 'stall'
    proc = _fetcher(tmp_path / 'host', proxy.url, ident)
    assert proc.stdout.readline() == 'fetching\n'
    cache = imagecache.ImageCache(fetcher_conf(tmp_path / 'host', proxy.url))
    deadline = time.monotonic() + 60
    while not any(n.endswith('.part') for n in _left(cache)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert all(n.endswith('.part') for n in _left(cache))       # never a base
    assert cache.cached(ident) is None
    proxy.release.set()
    proxy.mode = None
    base = cache.fetch(ident)               # the next fetch starts over
    with open(base.path, 'rb') as f:
        assert f.read() == _source(image_api).read_bytes()
    assert _left(cache) == [os.path.basename(base.path)]


@pytest.mark.parametrize('mode,message', [
    ('truncate', 'the transfer broke after'),
    ('huge-length', 'it announces 1000000000000000 bytes (Content-Length); the image '
                    'has'),
    ('more', "it sent more than the image's"),
    ('flip', 'Corrupt image download: its sha512 digest is'),
])
def test_a_wrong_download_is_not_kept(cache, image_api, proxy, mode, message):
    proxy.mode = mode
    with pytest.raises(exception.ImageDownloadFailed) as e:
        cache.fetch(image_id(image_api))
    assert message in str(e.value)
    assert 'Nothing was kept in the base cache' in str(e.value)
    assert _left(cache) == []


def test_without_os_hash_the_md5_checksum_is_verified(cache, image_api, proxy):
    proxy.mode = 'no-hashes'
    assert cache.fetch(image_id(image_api)).format == 'qcow2'
    cache2 = imagecache.ImageCache(fetcher_conf(cache.base_dir + '-2', proxy.url))
    proxy.mode = 'flip'
    with pytest.raises(exception.ImageDownloadFailed):
        cache2.fetch(image_id(image_api))


@pytest.mark.parametrize('ident', ['../../etc/passwd', '/etc/passwd', 'cirros',
                                   'http://example.com/x', '', None])
def test_an_id_that_is_not_a_uuid_is_refused_before_any_request(cache, proxy, ident):
    with pytest.raises(exception.InvalidImageId):
        cache.fetch(ident)
    assert proxy.requests == 0
    assert not os.path.exists(cache.lock_dir)


def test_an_unknown_image(cache, proxy):
    with pytest.raises(exception.ImageNotFound) as e:
        cache.fetch('00000000-0000-0000-0000-000000000001')
    assert proxy.url.rstrip('/v2.1') in str(e.value)


# --- what the Image API says about the image, from a real inject-api -------------------

@pytest.fixture
def served(tmp_path):
    """A fresh inject-api per test whose image directory the test fills."""
    from tests.clients.conftest import InjectApi
    state = tmp_path / 'api'
    (state / 'images').mkdir(parents=True)
    api = InjectApi(state)
    yield api
    api.stop()


def _refused(served, tmp_path, name, error):
    """Fetch ``name`` from ``served``: the message of the ``error`` it raises, after
    checking nothing was kept."""
    cache = imagecache.ImageCache(fetcher_conf(tmp_path / 'host', served.endpoint))
    with pytest.raises(error) as e:
        cache.fetch(image_id(served, name))
    assert _left(cache) == []
    return str(e.value)


def test_a_recorded_hash_that_is_wrong_is_refused(served, tmp_path):
    support.make_image(served.state, name='lying')
    (served.state / 'images' / 'lying.json').write_text(json.dumps(
        {'os_hash_algo': 'sha512', 'os_hash_value': '0' * 128}))
    assert 'Corrupt image download' in _refused(served, tmp_path, 'lying',
                                                exception.ImageDownloadFailed)


def test_a_backing_file_is_refused(served, tmp_path):
    backing = support.make_image(served.state, name='backing')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', str(backing), '-F',
                    'qcow2', str(served.state / 'images' / 'layered.qcow2')], check=True)
    assert 'it names a backing file (%r)' % str(backing) in _refused(
        served, tmp_path, 'layered', exception.ImageUnacceptable)


def test_a_qcow2_served_as_raw_is_refused(served, tmp_path):
    support.make_image(served.state, name='disguised', fmt='qcow2')
    os.rename(served.state / 'images' / 'disguised.qcow2',
              served.state / 'images' / 'disguised.raw')
    assert 'its disk_format is raw but its data is a qcow2 image' in _refused(
        served, tmp_path, 'disguised', exception.ImageUnacceptable)


def test_a_raw_image_is_fetched_as_raw(served, tmp_path):
    support.make_image(served.state, name='plain', fmt='raw')
    cache = imagecache.ImageCache(fetcher_conf(tmp_path / 'host', served.endpoint))
    base = cache.fetch(image_id(served, 'plain'))
    assert base.format == 'raw' and base.path.endswith('.raw')


def test_an_image_that_is_not_active_is_refused(served, tmp_path):
    support.make_image(served.state, name='broken')
    (served.state / 'images' / 'broken.json').write_text('{"os_type": "beos"}')
    assert "its status is 'killed', not active" in _refused(
        served, tmp_path, 'broken', exception.ImageUnacceptable)


def test_an_image_larger_than_the_free_space_is_refused_before_download(
        cache, image_api, proxy, monkeypatch):
    real = os.statvfs

    def statvfs(path):
        st = real(path)
        return os.statvfs_result((st.f_bsize, 4096, st.f_blocks, 1, 1, st.f_files,
                                  st.f_ffree, st.f_favail, st.f_flag, st.f_namemax))
    monkeypatch.setattr(imagecache.os, 'statvfs', statvfs)
    with pytest.raises(exception.ImageUnacceptable) as e:
        cache.fetch(image_id(image_api))
    assert '(4096 bytes free)' in str(e.value)
    assert proxy.downloads == 0


def test_a_stalled_transfer_fails_after_the_timeout(tmp_path, image_api, proxy):
    proxy.mode = 'stall'
    cache = imagecache.ImageCache(fetcher_conf(tmp_path / 'host', proxy.url,
                                               **{'glance.timeout': 1}))
    with pytest.raises(exception.ImageDownloadFailed) as e:
        cache.fetch(image_id(image_api))
    assert 'the transfer broke after' in str(e.value)
    assert _left(cache) == []
