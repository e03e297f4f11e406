"""One server's facts, as the metadata tree needs them, and the one loader of them.

:func:`load` reads a server's record -- one instance object, with its metadata,
system metadata and personality files -- and maps it with :meth:`InstanceInfo.from_db`:
the config drive and the metadata service both call it, so they cannot disagree about
what a server is told. :class:`InstanceInfo` is a plain value (build one directly in
tests). Everything in it is already decoded (``user_data`` is bytes, decoded by
:func:`inject.encoding.b64decode`, the decoder that validated it at the API);
:attr:`InstanceInfo.user_data_b64` keeps the base64 text as stored, which is what a
dynamic vendordata target receives (as Nova).
"""

import base64
import collections
import dataclasses
import datetime
import re
import zlib

from inject import encoding
from inject import exception
from inject.db import system_metadata

#: The root device of every server (``OS-EXT-SRV-ATTR:root_device_name`` once it is
#: launched, the EC2 metadata's ``block-device-mapping``).
ROOT_DEVICE_NAME = '/dev/vda'


def hostname_from_name(name, uuid):
    """Nova's sanitisation of a display name into a hostname (the server view's
    ``OS-EXT-SRV-ATTR:hostname`` and the metadata's ``hostname``)."""
    host = re.sub(r'[ _]', '-', (name or '').lower())
    host = re.sub(r'[^a-z0-9.-]+', '', host).strip('.-')
    return host[:63] or 'server-%s' % uuid


# The legacy EC2 identifiers Nova derives from integer database ids; inject has none, so
# they are derived from the UUIDs (stable, 8 hex digits, the same shape).
def _ec2_hex(ident):
    """8 hex digits for an EC2-style id: the UUID's first group, else a CRC32."""
    head = (ident or '').split('-')[0]
    if re.fullmatch(r'[0-9a-fA-F]{8}', head):
        return head.lower()
    return '%08x' % (zlib.crc32((ident or '').encode('utf-8')) & 0xffffffff)


def _user_data(text):
    """The bytes of the stored base64 user data (None stays None)."""
    if text is None:
        return None
    try:
        return encoding.b64decode(text)
    except ValueError as e:
        raise exception.InvalidRequest(
            'The stored user_data is not base64 (%s).' % e) from None


def load(db, uuid, *, admin_pass=None):
    """The :class:`InstanceInfo` of the live server ``uuid`` as ``db`` (an
    :class:`inject.db.api.Database`) keeps it, or None when there is none.

    ``admin_pass`` is the one input kept nowhere: the config drive of a build gets
    it from the build (as Nova's ``extra_md``); the metadata service never has it.
    """
    inst = db.instance_get(uuid, files=True)
    if inst is None:
        return None
    return InstanceInfo.from_db(inst, admin_pass=admin_pass)


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
    #: The reservation of the create that made it (shared by a multi-create's servers).
    reservation_id: str | None = None
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

    def add_keypair(self, name, public_key, key_type='ssh'):
        """Record a key pair in ``public_keys`` and ``keys`` (as Nova's meta_data.json)."""
        self.public_keys[name] = public_key
        self.keys.append({'name': name, 'type': key_type, 'data': public_key})
        if self.key_name is None:
            self.key_name = name

    # --- from a server record -------------------------------------------------------

    @classmethod
    def from_db(cls, instance, *, admin_pass=None, network_data=None):
        """Map a server record (``inject.db.models.Instance``, its files loaded:
        see :func:`load`) to an InstanceInfo.

        Every value comes from the record: the metadata, the system metadata
        (reservation, launch index, boot roles, the posted password), the personality
        files, and the key the record keeps (``key_name``, ``key_data``,
        ``key_type``: the key pair as it was at create or rebuild, as Nova's
        instance.keypairs, which outlives the key pair's deletion).
        """
        meta = {m.key: m.value for m in (getattr(instance, 'metadata_items', None) or ())}
        sysmeta = system_metadata.values(instance)
        roles = sysmeta.get(system_metadata.BOOT_ROLES) or ''
        flavor = instance.flavor if isinstance(instance.flavor, dict) else {}
        info = cls(
            uuid=instance.uuid,
            name=instance.name,
            hostname=hostname_from_name(instance.name, instance.uuid),
            project_id=instance.project_id,
            user_id=instance.user_id,
            image_id=instance.image_ref or '',
            created_at=instance.created_at,
            launch_index=system_metadata.launch_index(sysmeta),
            reservation_id=system_metadata.reservation_id(sysmeta),
            availability_zone=instance.availability_zone,
            user_data=_user_data(instance.user_data),
            metadata=meta,
            key_name=instance.key_name,
            files=[(f.path, bytes(f.contents)) for f in instance.files],
            boot_roles=[r for r in roles.split(',') if r],
            network_data=network_data,
            admin_pass=admin_pass,
            password=system_metadata.password(sysmeta),
            flavor_name=flavor.get('name', ''),
            stored_user_data=instance.user_data,
        )
        if instance.key_name and instance.key_data:
            info.add_keypair(instance.key_name, instance.key_data,
                             instance.key_type or 'ssh')
        return info
