"""Key pair material, as Nova's ``nova.crypto`` makes it, with the ``cryptography``
package only (no paramiko, no openssl command):

- ``ssh``: a generated key is RSA 2048; the private key is returned once, in the PEM
  "traditional OpenSSL" form (``-----BEGIN RSA PRIVATE KEY-----``, what paramiko writes
  for Nova), the public key is ``ssh-rsa <base64> Generated-by-Nova``. The fingerprint
  is the MD5 of the key blob in colon-separated hex (``ssh-keygen -E md5 -l``).
- ``x509``: a generated key is a self-signed client certificate for WinRM (CN and UPN
  from the user id, 10 years, RSA 2048); the private key is the base64 of a PKCS#12
  bundle without a password, the public key the certificate in PEM. The fingerprint is
  the SHA-1 of the certificate in colon-separated hex.

Invalid material raises :class:`InvalidKeypair` with Nova's reasons.
"""

import base64
import binascii
import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

SSH = 'ssh'
X509 = 'x509'
TYPES = (SSH, X509)
BITS = 2048
_UPN_OID = x509.ObjectIdentifier('1.3.6.1.4.1.311.20.2.3')   # Microsoft UPN


class InvalidKeypair(ValueError):
    """Nova's "Keypair data is invalid: <reason>"."""

    def __init__(self, reason):
        super().__init__('Keypair data is invalid: %s' % reason)


def _colon_hex(digest):
    text = digest.hex()
    return ':'.join(text[i:i + 2] for i in range(0, len(text), 2))


def ssh_fingerprint(public_key):
    """The MD5 fingerprint of an OpenSSH public key line, or InvalidKeypair.

    Unlike Nova, a key of several lines is refused (it could not be written into
    authorized_keys as one entry, and only its first line was checked), and the blob
    is the second whitespace-separated field (Nova split on single spaces: two spaces
    gave the fingerprint of nothing)."""
    if '\n' in public_key.strip() or '\r' in public_key.strip():
        raise InvalidKeypair('the public key must be a single line')
    try:
        serialization.load_ssh_public_key(public_key.encode('utf-8'))
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except Exception:
        raise InvalidKeypair('failed to generate fingerprint') from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(pem):
    """The SHA-1 fingerprint of a PEM certificate, or InvalidKeypair."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode('utf-8'))
        return _colon_hex(cert.fingerprint(hashes.SHA1()))
    except (ValueError, TypeError, binascii.Error) as e:
        raise InvalidKeypair('failed to generate X509 fingerprint. Error message: %s'
                             % e) from None


def fingerprint(public_key, key_type=SSH):
    return x509_fingerprint(public_key) if key_type == X509 else ssh_fingerprint(public_key)


def generate(user_id, key_type=SSH):
    """``(private_key, public_key, fingerprint)`` of a new key pair of ``key_type``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=BITS)
    if key_type == X509:
        return _generate_x509(user_id, key)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode('ascii')
    blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH)
    public = '%s Generated-by-Nova' % blob.decode('ascii')
    return private, public, ssh_fingerprint(public)


def _generate_x509(user_id, key):
    """Nova's generate_winrm_x509_cert, without shelling out to openssl."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = datetime.datetime.now(datetime.timezone.utc)
    upn = x509.OtherName(_UPN_OID, _der_utf8('%s@localhost' % user_id))
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([upn]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode('ascii')
    bundle = pkcs12.serialize_key_and_certificates(
        None, key, cert, None, serialization.NoEncryption())
    return base64.b64encode(bundle).decode('ascii'), pem, x509_fingerprint(pem)


def _der_utf8(text):
    """DER of an ASN.1 UTF8String (what openssl's ``otherName:...;UTF8:`` writes)."""
    data = text.encode('utf-8')
    if len(data) < 0x80:
        length = bytes([len(data)])
    else:
        size = (len(data).bit_length() + 7) // 8
        length = bytes([0x80 | size]) + len(data).to_bytes(size, 'big')
    return b'\x0c' + length + data
