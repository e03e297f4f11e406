import pytest

from inject import exception
from inject import paths


@pytest.mark.parametrize('given, expected', [
    ('inject-file', '/inject-file'),
    ('etc/motd', '/etc/motd'),
    ('/etc/motd', '/etc/motd'),
    ('/a/../b', '/b'),
    ('/a/./b', '/a/b'),
    ('//etc//motd', '/etc/motd'),
    (b'/etc/caf\xc3\xa9', '/etc/caf\u00e9'),
])
def test_normalise_accepts(given, expected):
    assert paths.normalise(given) == expected


@pytest.mark.parametrize('bad', [
    '', '/etc/\0passwd', '/etc/', '/', '.', '/etc/.', '..', '/etc/..', '/..',
    '/../etc/passwd', '../etc/passwd', '/a/../../etc/passwd', 'a/../../b',
    '/' + 'x' * 256, '/etc/' + 'y' * 256 + '/z',
])
def test_normalise_rejects_naming_the_path(bad):
    with pytest.raises(exception.InvalidGuestPath) as e:
        paths.normalise(bad)
    assert repr(bad) in str(e.value)


def test_dotdot_that_stays_inside_is_fine():
    assert paths.normalise('/a/b/../../c') == '/c'


def test_name_of_exactly_255_bytes_is_fine():
    assert paths.normalise('/' + 'x' * 255) == '/' + 'x' * 255


def test_name_limit_counts_utf8_bytes():
    name = '\u00e9' * 128          # 256 bytes in UTF-8, 128 characters
    with pytest.raises(exception.InvalidGuestPath, match='longer than 255 bytes'):
        paths.normalise('/' + name)


def test_path_of_4096_bytes_is_fine_but_not_4097():
    ok = '/' + '/'.join(['a' * 200] * 20) + '/' + 'b' * 75    # 1+20*201+75 = 4096
    assert len(ok) == 4096
    assert paths.normalise(ok) == ok
    with pytest.raises(exception.InvalidGuestPath) as e:
        paths.normalise(ok + 'c')
    assert ok[:64] in str(e.value)
    assert 'longer than 4096 bytes' in str(e.value)


def test_relative_path_limit_counts_the_added_slash():
    relative = '/'.join(['a' * 200] * 20) + '/' + 'b' * 76     # 4096 bytes, 4097 with '/'
    assert len(relative) == 4096
    with pytest.raises(exception.InvalidGuestPath, match='longer than 4096'):
        paths.normalise(relative)


def test_non_utf8_bytes_rejected():
    with pytest.raises(exception.InvalidGuestPath) as e:
        paths.normalise(b'/etc/\xff\xfe')
    assert "b'/etc/\\xff\\xfe'" in str(e.value)
    assert 'UTF-8' in str(e.value)


def test_lone_surrogate_rejected():
    with pytest.raises(exception.InvalidGuestPath, match='UTF-8'):
        paths.normalise('/etc/\udcff')


def test_non_string_rejected():
    with pytest.raises(exception.InvalidGuestPath, match='must be a string'):
        paths.normalise(42)


def test_nul_reason():
    with pytest.raises(exception.InvalidGuestPath, match='NUL'):
        paths.normalise('/a\0b')


def test_climbing_reason():
    with pytest.raises(exception.InvalidGuestPath, match='climbs above the guest root'):
        paths.normalise('/../x')


@pytest.mark.parametrize('path, expected', [
    ('/a', []),
    ('/a/b', ['/a']),
    ('/a/b/c/d', ['/a', '/a/b', '/a/b/c']),
])
def test_parents(path, expected):
    assert paths.parents(path) == expected


def test_parents_of_root_home():
    assert paths.parents('/root/.ssh/authorized_keys') == ['/root', '/root/.ssh']
