"""Every error inject raises, each with a message that tells the reader what to do.

All of them derive from :class:`InjectError`; ``msg_fmt`` is formatted with the keyword
arguments given to the constructor, so a message always names the thing that was wrong.
What a caller needs beyond the message is a constructor argument and an attribute of the
class (e.g. :attr:`HotplugFailed.touched`), never set on an exception after the fact.
"""

import logging

LOG = logging.getLogger(__name__)


class InjectError(Exception):
    """Base class: ``str(exc)`` is a complete, single-line explanation."""

    msg_fmt = 'An unknown error occurred.'

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            message = self._format(kwargs)
        super().__init__(message)

    def _format(self, kwargs):
        """``msg_fmt % kwargs``; if they do not fit (a bug), still one useful line."""
        try:
            return self.msg_fmt % kwargs
        except (KeyError, TypeError, ValueError) as e:
            LOG.warning('The message of %s does not fit its arguments (%s: %s)',
                        type(self).__name__, type(e).__name__, e)
            given = ', '.join('%s=%r' % item for item in sorted(kwargs.items()))
            return ' '.join(('%s [%s]' % (self.msg_fmt, given)).split())


# --- configuration ------------------------------------------------------------------

class InvalidConfiguration(InjectError):
    """Options whose values are not valid (:mod:`inject.conf.check`)."""
    msg_fmt = ('Invalid configuration: %(problems)s. Correct these values (or remove '
               'them to get the defaults); nothing was started.')


# --- inject-api's database ----------------------------------------------------------

class DatabaseUnavailable(InjectError):
    """The database cannot be read or written now: full, read-only, unreachable
    (:func:`inject.db.engine.unavailable`). The transaction was rolled back."""
    msg_fmt = ('The database of inject-api cannot be %(doing)s now (%(reason)s); '
               'nothing was changed. Try again later; the operator has to free space '
               'or make the database writable or reachable again.')

    def __init__(self, message=None, *, doing, reason):
        self.doing = doing
        self.reason = reason
        super().__init__(message, doing=doing, reason=reason)


# --- requests and guest paths -------------------------------------------------------

class InvalidGuestPath(InjectError):
    msg_fmt = 'Invalid guest path %(path)r: %(reason)s.'


class InvalidRequest(InjectError):
    msg_fmt = 'Invalid injection request: %(reason)s.'


# --- disk images --------------------------------------------------------------------

class InvalidImage(InjectError):
    msg_fmt = 'Disk image %(path)s cannot be used: %(reason)s.'


class UnsafeBackingFile(InvalidImage):
    msg_fmt = ('Disk image %(path)s is refused: its %(what)s %(target)r %(reason)s. '
               'A backing file outside [injection]image_dirs (%(allowed)s) would expose a '
               'host file to the guest; rebase the image onto a file in those '
               'directories, or add its directory to image_dirs if it is trusted.')


class InvalidImageProperties(InjectError):
    msg_fmt = ('The image properties in %(path)s cannot be used: %(reason)s. Fix the '
               'file (a JSON object of Glance property names with string values) or '
               'remove it; until then its image is not usable (status killed).')


class ImageCommandFailed(InjectError):
    msg_fmt = '%(command)s failed for %(path)s: %(reason)s'


# --- base images fetched through the Image API --------------------------------------

class ImageServiceUnavailable(InjectError):
    msg_fmt = ('The Image API cannot be used: %(reason)s. Set [glance]endpoint_override '
               '(Glance, or inject-api: http://API-HOST:8774/v2.1), or [glance] auth '
               'options to find the "image" service in the Keystone catalog.')


class InvalidImageId(InjectError):
    msg_fmt = ('Image id %(image_id)r is refused: image ids are UUIDs (Glance\'s, and '
               'inject-api\'s). Nothing was fetched.')


class ImageNotFound(InjectError):
    msg_fmt = 'Image %(image_id)s could not be found at %(endpoint)s.'


class ImageUnacceptable(InjectError):
    msg_fmt = ('Image %(image_id)s is unacceptable: %(reason)s. Nothing was kept; fix '
               'or replace the image in the Image API.')


class ImageDownloadFailed(InjectError):
    msg_fmt = ('Downloading image %(image_id)s from %(url)s failed: %(reason)s. Nothing '
               'was kept in the base cache; the next build fetches it again.')


# --- the VFS driver and the appliance -----------------------------------------------

class VFSDriverUnavailable(InjectError):
    msg_fmt = ('The libguestfs VFS driver cannot be loaded: %(reason)s. Install Debian\'s '
               'python3-guestfs, libguestfs-tools, qemu-system-x86 and linux-image-amd64 '
               '(tools/setup.sh does it) and make sure the guestfs module is importable '
               'from this Python (tools/setup.sh links it into the virtualenv). inject has '
               'no other way in: it never mounts a guest filesystem on the host.')


class ApplianceLaunchFailed(InjectError):
    msg_fmt = 'The libguestfs appliance did not start (accelerator %(accelerator)s): %(reason)s%(hint)s'

    def __init__(self, message=None, accelerator='?', reason='', hint=''):
        super().__init__(message, accelerator=accelerator, reason=reason,
                         hint=(' ' + hint) if hint else '')


class ApplianceTimeout(InjectError):
    msg_fmt = ('The libguestfs appliance did not finish %(stage)s within %(seconds)s s '
               '(accelerator %(accelerator)s); its qemu was killed. %(hint)s')


class ApplianceDied(InjectError):
    msg_fmt = 'The appliance worker died during %(stage)s (%(reason)s).'


class NotEnoughMemory(InjectError):
    msg_fmt = ('Not enough memory to start an appliance: it needs about %(need)d MB '
               '(%(what)s), the host has %(available)d MB available (MemAvailable), '
               '%(pending)d MB of which are promised to appliances this process started '
               'moments ago. Nothing was started; try again later, or lower '
               '[agent]max_appliances or [appliance]warm_appliances on this host.')


# --- mounting a guest filesystem inside the appliance --------------------------------

class HotplugFailed(InjectError):
    """``touched``: True once qemu had opened the disk, so it must not be put into
    another appliance (False: the disk is untouched and may go elsewhere)."""

    msg_fmt = ('Attaching a disk to a warm appliance failed at %(what)s: %(reason)s. '
               'Set [appliance]warm_appliances = 0 if this keeps happening.')

    def __init__(self, message=None, touched=False, **kwargs):
        super().__init__(message, **kwargs)
        self.touched = touched


class GuestFilesystemError(InjectError):
    msg_fmt = 'Cannot mount the guest filesystem of %(image)s: %(reason)s.'


class NoOperatingSystem(GuestFilesystemError):
    msg_fmt = ('No operating system found in %(image)s (inject_partition=-1 inspects the '
               'disk): give the partition number instead (inject_partition=N, or 0 for an '
               'unpartitioned disk).')


class SeveralOperatingSystems(GuestFilesystemError):
    msg_fmt = ('Several operating systems found in %(image)s (roots: %(roots)s); '
               'inject_partition=-1 cannot choose. Give the partition number instead.')


class PartitionNotFound(GuestFilesystemError):
    msg_fmt = ('Partition %(partition)s does not exist in %(image)s (%(found)s). '
               'Set inject_partition to one of those, 0 for an unpartitioned disk, or -1 '
               'to inspect.')


# --- reading and writing guest files ------------------------------------------------

class GuestReadError(InjectError):
    """A guest file (or its metadata, for stat) could not be read."""
    msg_fmt = 'Cannot read %(path)s in the guest: %(reason)s.'


class GuestWriteError(InjectError):
    msg_fmt = 'Cannot write %(path)s in the guest: %(reason)s.'


class GuestSyncError(InjectError):
    """Unmounting or flushing failed: what was written may not all be on the disk."""
    msg_fmt = ('What was written to %(target)s may not have reached the disk: '
               '%(reason)s.')


class GuestUserNotFound(InjectError):
    msg_fmt = 'User %(user)s is not in the guest\'s %(file)s, so %(what)s cannot be set.'


# --- the agent ----------------------------------------------------------------------

class AgentTimeout(InjectError):
    msg_fmt = ('No injection agent on host %(host)s answered within %(seconds)s s: is '
               'inject-agent running there with [agent]host = %(host)s and the same '
               '[DEFAULT]transport_url?')


class AgentStopping(InjectError):
    msg_fmt = ('The injection agent on host %(host)s stopped before this request was '
               'done (%(reason)s); nothing was written to the disk. Send it again.')


class AgentRemoteError(InjectError):
    msg_fmt = 'The injection agent on host %(host)s failed: %(reason)s'


class AgentHostTaken(InjectError):
    msg_fmt = ('Another inject-agent already serves host %(host)s on this transport; two '
               'would share its requests at random. Stop it, or give this one another '
               '[agent]host.')


# --- vendordata and the metadata service -----------------------------------------------

class VendorDataError(InjectError):
    """Vendordata could not be produced; the message names the source and the reason."""
    msg_fmt = 'Vendordata is not available: %(reason)s'


class VendorDataTargetFailed(VendorDataError):
    """A DynamicJSON target failed while [api]vendordata_dynamic_failure_fatal is on."""
    msg_fmt = ('Dynamic vendordata target %(target)s at %(url)s failed: %(reason)s '
               '(vendordata_dynamic_failure_fatal is on)')

    def __init__(self, message=None, *, target, url, reason):
        self.target = target
        self.url = url
        self.reason = reason
        super().__init__(message, target=target, url=url, reason=reason)


class StaticVendorDataInvalid(VendorDataError):
    """The StaticJSON file is missing, unreadable or not JSON of an accepted shape."""
    msg_fmt = ('vendordata_jsonfile_path %(path)s cannot be served: %(reason)s. Fix the '
               'file or unset [api]vendordata_jsonfile_path.')

    def __init__(self, message=None, *, path, reason):
        self.path = path
        self.reason = reason
        super().__init__(message, path=path, reason=reason)


class InvalidVendorDataTarget(VendorDataError):
    """An entry of [api]vendordata_dynamic_targets cannot be used."""
    msg_fmt = ('[api]vendordata_dynamic_targets is invalid: %(reason)s. Each entry is '
               'NAME@URL with an http or https URL.')


# --- metadata and the config drive ---------------------------------------------------

class MetadataNotFound(InjectError):
    """A metadata path that does not exist (the metadata service answers 404)."""
    msg_fmt = 'No metadata at %(path)s.'


class ConfigDriveTooLarge(InjectError):
    msg_fmt = ('The config drive of server %(uuid)s would hold %(size)d bytes, more than '
               'the %(limit)d allowed; nothing was written. Send fewer or smaller '
               'personality files, user data or vendordata.')


class ConfigDriveWriteFailed(InjectError):
    msg_fmt = ('Cannot write the config drive %(path)s: %(reason)s. Nothing was left '
               'at that path.')
