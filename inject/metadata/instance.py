"""One server's facts, as the metadata tree needs them (no database, no network).

:class:`InstanceInfo` is a plain value: build it with :meth:`InstanceInfo.from_db` from a
server record (``inject.db.models.Instance``) or directly in tests. Everything in it is
already decoded (``user_data`` is bytes); :attr:`InstanceInfo.user_data_b64` keeps the
base64 text as stored, which is what a dynamic vendordata target receives (as Nova).
"""

import base64
import binascii
import collections
import dataclasses
import datetime
import re
import zlib

from inject import exception

# The legacy EC2 identifiers Nova derives from integer database ids; inject has none, so
# they are derived from the UUIDs (stable, 8 hex digits, the same shape).
ROOT_DEVICE_NAME = '/dev/vda'


def hostname_from_name(name, uuid):
    """Nova's sanitisation of a display name into a hostname (as the server view)."""
    host = re.sub(r'[ _]', '-', (name or '').lower())
    host = re.sub(r'[^a-z0-9.-]+', '', host).strip('.-')
    return host[:63] or 'server-%s' % uuid


def _ec2_hex(ident):
    """8 hex digits for an EC2-style id: the UUID's first group, else a CRC32."""
    head = (ident or '').split('-')[0]
    if re.fullmatch(r'[0-9a-fA-F]{8}', head):
        return head.lower()
    return '%08x' % (zlib.crc32((ident or '').encode('utf-8')) & 0xffffffff)


def decode_user_data(text):
    """The bytes of base64 user data as stored (None stays None)."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.encode('ascii', 'strict')
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as e:
        raise exception.InvalidRequest(
            'The stored user_data is not base64 (%s).' % e) from None


def _keypair_fields(kp):
    """(name, type, public_key) of a key pair given as an object or a dict."""
    get = kp.get if isinstance(kp, dict) else (lambda k, d=None: getattr(kp, k, d))
    return get('name'), get('type', 'ssh') or 'ssh', get('public_key')


def _stored_keypair(instance):
    """The key pair a server record keeps, as a one-item list (or none)."""
    name = getattr(instance, 'key_name', None)
    data = getattr(instance, 'key_data', None)
    if not name or not data:
        return []
    return [{'name': name, 'type': getattr(instance, 'key_type', None) or 'ssh',
             'public_key': data}]


@dataclasses.dataclass
class InstanceInfo:
    """Everything the metadata tree of one server is made of."""

    uuid: str
    name: str
    hostname: str
    project_id: str
    user_id: str
    image_id: str = ''
    created_at: datetime.datetime | None = None
    launch_index: int = 0
    availability_zone: str | None = 'nova'
    #: The decoded user data, or None when the server has none.
    user_data: bytes | None = None
    #: The user's server metadata (``meta`` in meta_data.json).
    metadata: dict = dataclasses.field(default_factory=dict)
    key_name: str | None = None
    #: name -> OpenSSH public key line (``public_keys`` in meta_data.json).
    public_keys: dict = dataclasses.field(default_factory=collections.OrderedDict)
    #: ``[{'name', 'type', 'data'}]`` (``keys`` in meta_data.json).
    keys: list = dataclasses.field(default_factory=list)
    #: Personality files: ``[(guest path, bytes)]`` in the order given.
    files: list = dataclasses.field(default_factory=list)
    #: Roles of the user who created the server (system metadata ``boot_roles``).
    boot_roles: list = dataclasses.field(default_factory=list)
    #: Nova's network_data.json, or None: a server without ports gets ``{}``.
    network_data: dict | None = None
    #: The admin password: written only into the config drive (``admin_pass``), as Nova.
    admin_pass: str | None = None
    #: What the guest posted to the metadata service's ``password`` (''  when none).
    password: str = ''
    flavor_name: str = ''
    root_device_name: str = ROOT_DEVICE_NAME
    security_groups: list = dataclasses.field(default_factory=list)
    #: The base64 text of the user data as stored (None: derived from ``user_data``).
    stored_user_data: str | None = None

    def __post_init__(self):
        if self.user_data is not None and not isinstance(self.user_data, bytes):
            raise TypeError('InstanceInfo.user_data must be bytes or None, not %s'
                            % type(self.user_data).__name__)
        for entry in self.files:
            if (not isinstance(entry, tuple) or len(entry) != 2
                    or not isinstance(entry[1], bytes)):
                raise TypeError('InstanceInfo.files holds (path, bytes) pairs, not %r'
                                % (entry,))

    # --- derived values -------------------------------------------------------------

    @property
    def user_data_b64(self):
        """The user data as base64 text, as stored (what DynamicJSON POSTs); or None."""
        if self.stored_user_data is not None:
            return self.stored_user_data
        if self.user_data is None:
            return None
        return base64.b64encode(self.user_data).decode('ascii')

    @property
    def boot_roles_text(self):
        """``boot_roles`` comma-joined, as Nova stores and sends it (``''`` for none)."""
        return ','.join(self.boot_roles)

    @property
    def ec2_instance_id(self):
        return 'i-%s' % _ec2_hex(self.uuid)

    @property
    def ec2_ami_id(self):
        return 'ami-%s' % _ec2_hex(self.image_id)

    @property
    def reservation_id(self):
        # The same value the server view shows as OS-EXT-SRV-ATTR:reservation_id.
        return 'r-%s' % self.uuid[:8]

    def add_keypair(self, name, public_key, key_type='ssh'):
        """Record a key pair in ``public_keys`` and ``keys`` (as Nova's meta_data.json)."""
        self.public_keys[name] = public_key
        self.keys.append({'name': name, 'type': key_type, 'data': public_key})
        if self.key_name is None:
            self.key_name = name

    # --- from a server record -------------------------------------------------------

    @classmethod
    def from_db(cls, instance, *, files=(), keypairs=None, admin_pass=None,
                network_data=None):
        """Map a server record (``inject.db.models.Instance``) to an InstanceInfo.

        ``files`` are the personality files ``[(path, bytes)]`` (not stored in the
        database, as in Nova); ``keypairs`` the server's key pairs (objects or dicts
        with ``name``, ``type``, ``public_key``; Nova exposes the first only); when
        None, the key the server record keeps (``key_name``, ``key_data``,
        ``key_type``: the key pair as it was at create or rebuild, as Nova's
        instance.keypairs, which outlives the key pair's deletion).
        ``boot_roles`` comes from system metadata ``boot_roles`` and the metadata
        service password from ``password_0..3``; both are empty when absent.
        """
        meta = {m.key: m.value for m in (getattr(instance, 'metadata_items', None) or ())}
        sysmeta = {m.key: m.value
                   for m in (getattr(instance, 'system_metadata_items', None) or ())}
        roles = sysmeta.get('boot_roles') or ''
        password = ''.join(sysmeta[k] or '' for k in sorted(sysmeta)
                           if k.startswith('password_'))
        flavor = instance.flavor if isinstance(instance.flavor, dict) else {}
        info = cls(
            uuid=instance.uuid,
            name=instance.name,
            hostname=hostname_from_name(instance.name, instance.uuid),
            project_id=instance.project_id,
            user_id=instance.user_id,
            image_id=instance.image_ref or '',
            created_at=instance.created_at,
            launch_index=0,
            availability_zone=instance.availability_zone,
            user_data=decode_user_data(instance.user_data),
            metadata=meta,
            key_name=getattr(instance, 'key_name', None),
            files=[(p, c if isinstance(c, bytes) else c.encode('utf-8'))
                   for p, c in files],
            boot_roles=[r for r in roles.split(',') if r],
            network_data=network_data,
            admin_pass=admin_pass,
            password=password,
            flavor_name=flavor.get('name', ''),
            stored_user_data=instance.user_data,
        )
        if keypairs is None:
            keypairs = _stored_keypair(instance)
        for kp in list(keypairs)[:1]:
            name, key_type, public_key = _keypair_fields(kp)
            info.public_keys[name] = public_key
            info.keys.append({'name': name, 'type': key_type, 'data': public_key})
        return info
