import secrets

import pytest

from inject import passwords


def test_sha512_crypt_vector():
    assert passwords.hash_password('123456', 'sha512-crypt', salt='abcdefgh12345678') == (
        '$6$abcdefgh12345678$HG7HET3XZ4b.09in51DkNCVR1iy8S0NJB2UlibbNyerDImdqwLjS.14/'
        'SyicdXqXm1QJp7IsL8SrYykPz9wb61')


def test_md5_crypt_vector_from_nova():
    assert passwords.hash_password('123456', 'md5-crypt', salt='12345678') == (
        '$1$12345678$a4ge4d5iJ5vwvbFS88TEN0')


def test_default_scheme_is_sha512():
    assert passwords.hash_password('pw').startswith('$6$')


def test_sha512_uses_default_rounds_implicitly():
    assert not passwords.hash_password('pw').startswith('$6$rounds=')


@pytest.mark.parametrize('scheme, prefix, length', [
    ('sha512-crypt', '$6$', 16), ('md5-crypt', '$1$', 8)])
def test_salt_comes_from_secrets(monkeypatch, scheme, prefix, length):
    calls = []

    def choice(alphabet):
        calls.append(alphabet)
        return 'Q'
    monkeypatch.setattr(secrets, 'choice', choice)
    hashed = passwords.hash_password('pw', scheme)
    assert len(calls) == length
    assert all(a == passwords.SALT_ALPHABET for a in calls)
    assert hashed.startswith(prefix + 'Q' * length + '$')


def test_salts_differ_between_calls():
    a = passwords.hash_password('same')
    b = passwords.hash_password('same')
    assert a != b
    assert a.split('$')[2] != b.split('$')[2]


def test_make_salt_alphabet_and_length():
    salt = passwords.make_salt(64)
    assert len(salt) == 64
    assert set(salt) <= set(passwords.SALT_ALPHABET)


def test_unknown_scheme_rejected():
    with pytest.raises(KeyError):
        passwords.hash_password('pw', 'des-crypt')
