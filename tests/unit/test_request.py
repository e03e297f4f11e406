import pytest

from inject import exception
from inject import image
from inject.request import InjectionRequest

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISECRETKEYMATERIAL user@host'


@pytest.fixture
def disk(tmp_path):
    return image.DiskImage(str(tmp_path / 'disk.raw'), 'raw')


def test_valid_request_normalises(disk):
    r = InjectionRequest(disk, files=[('etc/motd', 'hi'), ('/a/b', b'x')], key=KEY + '\n',
                         net='auto lo\n', metadata={'a': 'b'}, admin_password='pw',
                         partition=-1, request_id='req-1')
    assert r.files == [('/etc/motd', b'hi'), ('/a/b', b'x')]
    assert r.key == KEY
    assert r.net == b'auto lo\n'
    assert r.metadata == {'a': 'b'}
    assert r.partition == -1


def test_image_must_be_a_disk_image():
    with pytest.raises(exception.InvalidRequest, match='DiskImage'):
        InjectionRequest('/tmp/disk.raw')


@pytest.mark.parametrize('key', ['ssh-rsa AAAA\nssh-rsa BBBB', 'ssh-rsa AA\rAA',
                                 'ssh-rsa A\0B'])
def test_key_must_be_one_line(disk, key):
    with pytest.raises(exception.InvalidRequest, match='single authorized_keys line'):
        InjectionRequest(disk, key=key)


@pytest.mark.parametrize('key', ['', '   ', '\n', b''])
def test_key_must_not_be_empty(disk, key):
    with pytest.raises(exception.InvalidRequest, match='SSH key is empty'):
        InjectionRequest(disk, key=key)


@pytest.mark.parametrize('metadata', [{'a': 1}, {1: 'a'}, {'a': None}, ['a'], 'a=b'])
def test_metadata_must_be_strings(disk, metadata):
    with pytest.raises(exception.InvalidRequest, match='metadata'):
        InjectionRequest(disk, metadata=metadata)


@pytest.mark.parametrize('partition', [-3, True, False, 1.0, '1'])
def test_bad_partition(disk, partition):
    with pytest.raises(exception.InvalidRequest, match='partition must be an integer'):
        InjectionRequest(disk, partition=partition)


@pytest.mark.parametrize('partition', [-2, -1, 0, 1, 15])
def test_good_partition(disk, partition):
    assert InjectionRequest(disk, partition=partition).partition == partition


@pytest.mark.parametrize('password', ['', b'pw', 7])
def test_bad_password(disk, password):
    with pytest.raises(exception.InvalidRequest, match='non-empty string'):
        InjectionRequest(disk, admin_password=password)


def test_password_with_nul(disk):
    with pytest.raises(exception.InvalidRequest, match='NUL'):
        InjectionRequest(disk, admin_password='a\0b')


def test_file_contents_must_be_bytes_or_text(disk):
    with pytest.raises(exception.InvalidRequest, match='file /x must be bytes or text'):
        InjectionRequest(disk, files=[('/x', 42)])


def test_bad_file_path_raises_invalid_guest_path(disk):
    with pytest.raises(exception.InvalidGuestPath, match='climbs'):
        InjectionRequest(disk, files=[('/../etc/passwd', b'x')])


def test_repr_hides_secrets(disk):
    r = InjectionRequest(disk, files=[('/etc/secret.conf', b'FILECONTENTS-42')], key=KEY,
                         net='NETCONFIG-77', metadata={'mdkey': 'MDVALUE-99'},
                         admin_password='Pa55w0rd!', partition=1)
    text = repr(r)
    for secret in ('FILECONTENTS-42', 'SECRETKEYMATERIAL', 'ssh-ed25519', 'NETCONFIG-77',
                   'MDVALUE-99', 'mdkey', 'Pa55w0rd!'):
        assert secret not in text
    assert '/etc/secret.conf' in text          # the paths are fine to log
    assert '<SANITIZED>' in text
    assert 'partition=1' in text


def test_repr_of_empty_request(disk):
    text = repr(InjectionRequest(disk))
    assert 'admin_password=None' in text and 'key=None' in text


def test_password_at_the_hasher_limit_is_accepted(disk):
    assert InjectionRequest(disk, admin_password='é' * 2048).admin_password


def test_password_over_the_hasher_limit_names_the_limit(disk):
    with pytest.raises(exception.InvalidRequest,
                       match='admin password is 5000 bytes long; at most 4096'):
        InjectionRequest(disk, admin_password='x' * 5000)


def test_password_with_lone_surrogate(disk):
    with pytest.raises(exception.InvalidRequest, match='not valid Unicode'):
        InjectionRequest(disk, admin_password='a\udcffb')


def test_file_over_the_guest_file_limit(disk):
    from inject import request
    with pytest.raises(exception.InvalidRequest,
                       match='file /big is %d bytes; at most' % (request.MAX_FILE_BYTES + 1)):
        InjectionRequest(disk, files=[('/big', b'\0' * (request.MAX_FILE_BYTES + 1))])


def test_file_text_with_lone_surrogate(disk):
    with pytest.raises(exception.InvalidRequest, match='file /x is not valid Unicode'):
        InjectionRequest(disk, files=[('/x', 'a\udcffb')])


def test_key_line_over_what_sshd_reads(disk):
    from inject import request
    key = 'ssh-rsa ' + 'A' * request.MAX_KEY_BYTES
    with pytest.raises(exception.InvalidRequest, match='sshd ignores authorized_keys'):
        InjectionRequest(disk, key=key)
    assert InjectionRequest(disk, key=key[:request.MAX_KEY_BYTES]).key
