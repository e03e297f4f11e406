"""What is injected, where, and whether this host injects at all."""

import logging

from oslo_config import cfg

from inject.conf import base

LOG = logging.getLogger(__name__)

injection_group = cfg.OptGroup(
    'injection',
    title='Injection options',
    help='What inject writes into guest disks, and where. These replace Nova\'s '
         '[libvirt]inject_* options, whose names are still read.')

#: the kinds of item, each named by one word everywhere (options, plans, reports)
ITEMS = ('key', 'net', 'metadata', 'admin_password', 'file')
#: spellings still read from existing configuration files: {old: current}
DEPRECATED_ITEMS = {'files': 'file'}
_warned = set()


class ItemKind(cfg.types.String):
    """One of :data:`ITEMS`; a deprecated spelling is read as its current word (with a
    warning, once per process)."""

    def __init__(self):
        super().__init__(choices=ITEMS)

    def __call__(self, value):
        old = str(value).strip()
        if old in DEPRECATED_ITEMS:
            value = DEPRECATED_ITEMS[old]
            if old not in _warned:
                _warned.add(old)
                LOG.warning('[injection]mandatory: "%s" is a deprecated spelling of '
                            '"%s"; write "%s" instead.', old, value, value)
        return super().__call__(value)

injection_opts = [
    cfg.IntOpt('inject_partition',
               default=-2,
               min=-2,
               mutable=True,
               deprecated_opts=[cfg.DeprecatedOpt('inject_partition', group='libvirt')],
               help='Which filesystem of the disk receives injected data. '
                    '-2: injection is disabled on this host; every requested item is '
                    'reported as not injected (it is never dropped silently). '
                    '-1: inspect the disk for its operating system and mount its root '
                    '(and the other mountpoints its fstab names); costs 6-14 s under TCG. '
                    '0: the disk is not partitioned; its whole device holds the filesystem. '
                    'N > 0: partition number N holds the root filesystem.'),
    cfg.BoolOpt('inject_key',
                default=False,
                mutable=True,
                deprecated_opts=[cfg.DeprecatedOpt('inject_key', group='libvirt')],
                help='Append the server\'s SSH public key to root\'s authorized_keys. '
                     'When False, a requested key is reported as skipped.'),
    cfg.BoolOpt('inject_password',
                default=False,
                mutable=True,
                deprecated_opts=[cfg.DeprecatedOpt('inject_password', group='libvirt')],
                help='Set root\'s password in the guest\'s /etc/shadow. When False, a '
                     'requested admin password is reported as skipped.'),
    cfg.StrOpt('password_hash',
               default='sha512-crypt',
               choices=[('sha512-crypt', 'SHA-512 crypt ($6$), understood by every '
                                         'glibc since 2.7 (2007)'),
                        ('md5-crypt', 'MD5 crypt ($1$), only for very old guests')],
               mutable=True,
               help='How the admin password is hashed into /etc/shadow. The salt always '
                    'comes from the operating system\'s CSPRNG.'),
    cfg.ListOpt('mandatory',
                default=list(ITEMS),
                item_type=ItemKind(),
                mutable=True,
                help='Items whose failure leaves the disk exactly as it was: when one of '
                     'them fails, nothing at all is written. A failing item not listed '
                     'here is reported as failed while the others are kept. The items are '
                     'key, net, metadata, admin_password and file (a personality file); '
                     '"files", the spelling of earlier releases, is still read as "file" '
                     '(with a deprecation warning). Nova treated only personality files as '
                     'mandatory.'),
    cfg.ListOpt('image_dirs',
                default=['$state_path/images', '/var/lib/nova/instances'],
                mutable=True,
                help='Directories that may hold the backing files of a qcow2 disk. A disk '
                     'whose backing chain (or external data file) leaves these directories '
                     'is refused before any appliance opens it, because a backing file '
                     'naming a host file would show that file to the guest.'),
    cfg.StrOpt('overlay_dir',
               default='$state_path/overlays',
               help='Where the temporary qcow2 overlay of a disk being injected is kept. '
                    'Writes land there first and reach the disk only when every mandatory '
                    'item succeeded.'),
]


def register_opts(conf):
    base.register(conf, injection_group, injection_opts)


def list_opts():
    return {injection_group: injection_opts}
