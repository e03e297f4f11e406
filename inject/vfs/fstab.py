"""A guest's /etc/fstab, as text: which filesystems it mounts, and which device it means.

Pure functions of strings, used by the root probe (:mod:`inject.vfs.roots`): nothing
here talks to libguestfs.
"""

#: fstab filesystem types that are not on the disk (or not for inject to mount)
NOT_ON_DISK = frozenset({
    'proc', 'sysfs', 'tmpfs', 'devtmpfs', 'devpts', 'swap', 'none', 'cgroup', 'cgroup2',
    'securityfs', 'debugfs', 'tracefs', 'mqueue', 'hugetlbfs', 'configfs', 'pstore',
    'efivarfs', 'binfmt_misc', 'autofs', 'fusectl', 'nfs', 'nfs4', 'cifs', 'smbfs', 'fuse',
    'fuse.sshfs', 'iso9660', 'udf', 'auto', 'rpc_pipefs', 'nfsd', 'overlay'})
#: the tags an fstab spec may name a device by (TAG=value), as blkid reports them
TAGS = ('UUID', 'LABEL', 'PARTUUID', 'PARTLABEL')
#: udev's directories of links by tag: /dev/disk/by-uuid/VALUE means UUID=VALUE
BY_DIRS = {'/dev/disk/by-uuid/': 'UUID', '/dev/disk/by-label/': 'LABEL',
           '/dev/disk/by-partuuid/': 'PARTUUID', '/dev/disk/by-partlabel/': 'PARTLABEL'}
#: tags whose values are compared without regard to case (hex digits)
CASELESS = ('UUID', 'PARTUUID')


def mounts(text):
    """[(spec, mountpoint)] of an fstab's local filesystems other than / and swap."""
    result = []
    for line in text.splitlines():
        fields = line.split('#', 1)[0].split()
        if len(fields) < 2:
            continue
        spec, mountpoint = fields[0], fields[1].replace('\\040', ' ')
        fstype = fields[2] if len(fields) > 2 else ''
        options = fields[3].split(',') if len(fields) > 3 else []
        if (mountpoint == '/' or not mountpoint.startswith('/') or fstype in NOT_ON_DISK
                or 'bind' in options or 'rbind' in options or 'noauto' in options):
            continue
        result.append((spec, mountpoint))
    return result


def spec_tag(spec):
    """('UUID', value) for UUID=..., /dev/disk/by-uuid/... and the like, else None."""
    name, sep, value = spec.partition('=')
    if sep and name in TAGS:
        return name, value.strip('"\'')
    for prefix, tag in BY_DIRS.items():
        if spec.startswith(prefix):
            return tag, spec[len(prefix):]
    return None


def matches(spec, tags):
    """True when the fstab ``spec`` names the device whose blkid ``tags`` are given."""
    tag = spec_tag(spec)
    if tag is None:
        return False
    value = tags.get(tag[0])
    if value is None:
        return False
    if tag[0] in CASELESS:
        return value.lower() == tag[1].lower()
    return value == tag[1]
