"""Hashing the admin password for a guest's /etc/shadow.

Nova used MD5-crypt (or DES when libc lacked MD5) with a ``random.choice`` salt. inject
uses SHA-512-crypt by default, which every glibc since 2.7 (2007) verifies, with the salt
drawn from the operating system's CSPRNG (:mod:`secrets`); MD5-crypt remains available
for very old guests. Hashes are computed on the host by libpass, so they do not depend
on the host's libcrypt or on the deprecated :mod:`crypt` module.
"""

import secrets
import string

from passlib.hash import md5_crypt
from passlib.hash import sha512_crypt

SALT_ALPHABET = string.ascii_letters + string.digits + './'

_SCHEMES = {
    # name: (hasher, salt length); 5000 rounds is glibc's default, written implicitly
    'sha512-crypt': (sha512_crypt.using(rounds=5000), 16),
    'md5-crypt': (md5_crypt, 8),
}

SCHEMES = tuple(_SCHEMES)

# passlib refuses longer secrets (PasswordSizeError); requests are checked against it
# up front so a long password is a clear error naming the limit, not a crash.
MAX_PASSWORD_BYTES = 4096


def make_salt(length):
    return ''.join(secrets.choice(SALT_ALPHABET) for _ in range(length))


def hash_password(password, scheme='sha512-crypt', salt=None):
    """Return the crypt(3) string for ``password`` ('$6$salt$...' or '$1$salt$...')."""
    hasher, salt_length = _SCHEMES[scheme]
    return hasher.using(salt=salt or make_salt(salt_length)).hash(password)
