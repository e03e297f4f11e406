"""The keys of a server's system metadata (``instance_system_metadata``), named once,
with who writes each and who reads it, and the readers of the values more than one
module shows.

Every key is written by inject-api (create, the spawn flow) or inject-metadata (the
posted password); none is shown to users as metadata.
"""

#: Nova's snapshot of the server's image, one ``image_<property>`` key each (create,
#: replaced on rebuild; :func:`inject.api.image_properties.system_metadata`): the
#: build reads ``image_img_config_drive``.
IMAGE_PREFIX = 'image_'
#: The image the server's disk was made from (create, each build).
IMAGE_BASE_IMAGE_REF = IMAGE_PREFIX + 'base_image_ref'
#: The reservation of the create that made the server, shared by the servers of one
#: multi-create (``r-`` and 8 characters): the server view
#: (``OS-EXT-SRV-ATTR:reservation_id``), the ``reservation_id`` list filter and the EC2
#: metadata (``reservation-id``) read it.
RESERVATION_ID = 'reservation_id'
#: The server's position in its multi-create, from 0: the server view
#: (``OS-EXT-SRV-ATTR:launch_index``) and the metadata (``launch_index``,
#: ``ami-launch-index``) read it.
LAUNCH_INDEX = 'launch_index'
#: The creator's roles, comma-joined (sent to dynamic vendordata targets; kept through
#: rebuilds).
BOOT_ROLES = 'boot_roles'
#: The inject-api process building the server (see :func:`inject.api.compute.builder`).
BUILDER = 'builder'
#: The guest paths of the last build's personality files, comma-joined.
INJECTED_FILES = 'injected_files'
#: The agent's report of the last build's injection (JSON).
INJECT_REPORT = 'inject_report'
#: The password the guest posted to the metadata service, in 255-character chunks
#: (Nova's ``password_0`` .. ``password_3``).
PASSWORD_KEYS = tuple('password_%d' % i for i in range(4))
PASSWORD_CHUNK = 255

#: What a server view shows of a listed server, read with its row (see
#: :mod:`inject.db.listing`).
LISTED = (RESERVATION_ID, LAUNCH_INDEX)


def values(instance):
    """``{key: value}`` of an instance's system metadata (an ORM instance or a listed
    one: both carry ``system_metadata_items``)."""
    return {m.key: m.value for m in (getattr(instance, 'system_metadata_items', None)
                                     or ())}


def reservation_id(sysmeta):
    """The stored reservation id (None for a record that has none)."""
    return sysmeta.get(RESERVATION_ID)


def launch_index(sysmeta):
    """The stored launch index as an int (0 for a record that has none)."""
    return int(sysmeta.get(LAUNCH_INDEX) or 0)


def password_chunks(text):
    """``{password_N: chunk}`` of a posted password (at most 4 x 255 characters)."""
    return {key: text[i * PASSWORD_CHUNK:(i + 1) * PASSWORD_CHUNK]
            for i, key in enumerate(PASSWORD_KEYS)}


def password(sysmeta):
    """The posted password, joined from its chunks ('' when none was posted)."""
    return ''.join(sysmeta.get(key) or '' for key in PASSWORD_KEYS)
