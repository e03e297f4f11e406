"""One server's metadata tree, as Nova's metadata service and config drive serve it.

:class:`InstanceMetadata` renders an :class:`~inject.metadata.instance.InstanceInfo`
into the paths Nova's ``nova/api/metadata/base.py`` serves:

* ``openstack/<version>/`` for every OpenStack metadata version and ``latest``, with
  ``meta_data.json``, ``user_data``, ``password``, ``vendor_data.json``,
  ``network_data.json`` and ``vendor_data2.json`` as each version has them;
* ``openstack/content/NNNN``: the personality files, listed under ``files`` in
  ``meta_data.json``;
* the EC2 tree ``ec2/<version>/meta-data/...`` and ``ec2/<version>/user-data``
  (a path whose first part is neither ``ec2`` nor ``openstack`` is an EC2 path).

:meth:`InstanceMetadata.lookup` answers one path for the HTTP service:
``(body bytes, mimetype)``, directory listings included, or raises
:class:`inject.exception.MetadataNotFound`. :meth:`InstanceMetadata.config_drive_files`
yields what goes into the config drive, in Nova's order.

Where this differs from Nova, on purpose:

* ``vendor_data.json`` is always served (``{}`` without static vendordata): Nova 404s it
  while listing it, and crashes the config drive build (its B-2.9).
* Each provider is asked once per object: one config drive build makes one round of
  dynamic vendordata requests for all its version directories (Nova: one per version).
* ``network_data.json`` is ``application/json`` (Nova serves it as ``text/plain``).
* The mimetype is returned with each body, never kept as shared state.
* A path below a leaf (``.../hostname/x``, ``.../security-groups/default``) is a 404,
  not a server error.
* Personality files are served by the metadata service too, when the caller has them.
"""

import base64
import datetime
import json
import os
import posixpath

from oslo_config import cfg

from inject import exception
from inject.metadata import vendordata as vendordata_mod

# EC2 metadata versions (Nova's VERSIONS).
EC2_VERSIONS = (
    '1.0',
    '2007-01-19',
    '2007-03-01',
    '2007-08-29',
    '2007-10-10',
    '2007-12-15',
    '2008-02-01',
    '2008-09-01',
    '2009-04-04',
)

FOLSOM = '2012-08-10'
GRIZZLY = '2013-04-04'
HAVANA = '2013-10-17'
LIBERTY = '2015-10-15'
NEWTON_ONE = '2016-06-30'
NEWTON_TWO = '2016-10-06'
OCATA = '2017-02-22'
ROCKY = '2018-08-27'
VICTORIA = '2020-10-14'
EPOXY = '2025-04-04'

OPENSTACK_VERSIONS = (FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA,
                      ROCKY, VICTORIA, EPOXY)
LATEST = 'latest'

CONTENT_DIR = 'content'
MD_JSON_NAME = 'meta_data.json'
VD_JSON_NAME = 'vendor_data.json'
VD2_JSON_NAME = 'vendor_data2.json'
NW_JSON_NAME = 'network_data.json'
UD_NAME = 'user_data'
PASS_NAME = 'password'

TEXT_PLAIN = 'text/plain'
APPLICATION_JSON = 'application/json'

#: Nova's ``[api]dhcp_domain`` default, appended to the hostname.
DEFAULT_DHCP_DOMAIN = 'novalocal'
#: Nova's ``[api]config_drive_skip_versions`` default (EC2 versions only).
DEFAULT_SKIP_VERSIONS = ('1.0 2007-01-19 2007-03-01 2007-08-29 2007-10-10 2007-12-15 '
                         '2008-02-01 2008-09-01')


def dump_json(data):
    """JSON as Nova's ``jsonutils.dump_as_bytes``: default separators, ASCII."""
    return json.dumps(data).encode('ascii')


def ec2_md_print(data):
    """Nova's rendering of a lookup result as the HTTP body text."""
    if isinstance(data, dict):
        lines = []
        for key in sorted(data):
            if key == '_name':
                continue
            value = data[key]
            if isinstance(value, dict):
                lines.append(str(value['_name']) if '_name' in value else key + '/')
            else:
                lines.append(key)
        return '\n'.join(lines)
    if isinstance(data, (list, tuple)):
        return '\n'.join(str(x) for x in data)
    if isinstance(data, (bytes, str)):
        return data
    return str(data)


def _to_bytes(body):
    return body if isinstance(body, bytes) else body.encode('utf-8')


def _conf_value(conf, name, default):
    """``conf.api.<name>`` when that option is registered, else the Nova default."""
    if conf is None:
        return default
    try:
        value = getattr(conf.api, name)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError):
        return default
    return default if value is None else value


class InstanceMetadata:
    """The metadata tree of one server (build one per server, query it many times).

    ``vendordata`` is a :class:`~inject.metadata.vendordata.base.VendorDataProvider`
    (default: none, both vendordata files ``{}``); ``conf`` an oslo.config ConfigOpts
    whose ``[api]dhcp_domain`` and ``[api]config_drive_skip_versions`` are used when
    registered (Nova's defaults otherwise); ``address`` the guest's address for EC2
    ``local-ipv4``; ``today`` (``YYYY-MM-DD``) hides later versions from the listing.
    """

    def __init__(self, info, vendordata=None, conf=None, address=None, today=None):
        self.info = info
        self.vendordata = vendordata or vendordata_mod.EmptyVendorData()
        self.address = address
        self.today = today
        domain = _conf_value(conf, 'dhcp_domain', DEFAULT_DHCP_DOMAIN)
        self.hostname = '%s.%s' % (info.hostname, domain) if domain else info.hostname
        skip = _conf_value(conf, 'config_drive_skip_versions', DEFAULT_SKIP_VERSIONS)
        self.skip_versions = frozenset(skip.split())
        # Personality files as content entries 0000, 0001, ... (Nova's self.content).
        self.content = {}
        self.files = []
        for path, data in info.files:
            key = '%04i' % len(self.content)
            self.content[key] = data
            self.files.append({'path': path, 'content_path': '/%s/%s' % (CONTENT_DIR, key)})
        self._static = None
        self._v2 = None

    # --- vendordata (each provider method asked at most once) ----------------------

    def vendor_data(self):
        if self._static is None:
            self._static = (self.vendordata.static(self.info),)
        return self._static[0]

    def vendor_data2(self):
        if self._v2 is None:
            self._v2 = (self.vendordata.v2(self.info),)
        return self._v2[0]

    # --- the OpenStack tree ---------------------------------------------------------

    @staticmethod
    def _os_at_least(required, version):
        if version == LATEST:
            version = OPENSTACK_VERSIONS[-1]
        return OPENSTACK_VERSIONS.index(version) >= OPENSTACK_VERSIONS.index(required)

    def openstack_versions(self):
        """The ``/openstack`` listing: versions not in the future, then ``latest``."""
        today = self.today or datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d')
        return [v for v in OPENSTACK_VERSIONS if v <= today] + [LATEST]

    def version_listing(self, version):
        """The files of ``/openstack/<version>``, in Nova's order."""
        names = [MD_JSON_NAME]
        if self.info.user_data is not None:
            names.append(UD_NAME)
        if self._os_at_least(GRIZZLY, version):
            names.append(PASS_NAME)
        if self._os_at_least(HAVANA, version):
            names.append(VD_JSON_NAME)
        if self._os_at_least(LIBERTY, version):
            names.append(NW_JSON_NAME)
        if self._os_at_least(NEWTON_TWO, version):
            names.append(VD2_JSON_NAME)
        return names

    def meta_data(self, version, config_drive=False):
        """The ``meta_data.json`` dict of ``version`` (keys in Nova's order).

        ``admin_pass`` is in it only for the config drive, as Nova's libvirt driver
        passes it there (``extra_md``) and never to the metadata service.
        """
        info = self.info
        md = {'uuid': info.uuid}
        if info.metadata:
            md['meta'] = dict(info.metadata)
        if self.files:
            md['files'] = [dict(f) for f in self.files]
        if config_drive and info.admin_pass:
            md['admin_pass'] = info.admin_pass
        if info.public_keys:
            md['public_keys'] = dict(info.public_keys)
            md['keys'] = [dict(k) for k in info.keys]
        md['hostname'] = self.hostname
        md['name'] = info.name
        md['launch_index'] = info.launch_index
        md['availability_zone'] = info.availability_zone
        if self._os_at_least(GRIZZLY, version):
            md['random_seed'] = base64.b64encode(os.urandom(512)).decode('ascii')
        if self._os_at_least(LIBERTY, version):
            md['project_id'] = info.project_id
        if self._os_at_least(NEWTON_ONE, version):
            md['devices'] = []
        if self._os_at_least(VICTORIA, version):
            md['dedicated_cpus'] = []
        return md

    def network_data(self):
        return self.info.network_data if self.info.network_data is not None else {}

    def _openstack_file(self, version, name, config_drive=False):
        """(bytes, mimetype) of one file of an OpenStack version directory."""
        if name == MD_JSON_NAME:
            return dump_json(self.meta_data(version, config_drive)), APPLICATION_JSON
        if name == UD_NAME and self.info.user_data is not None:
            return self.info.user_data, TEXT_PLAIN
        if name == PASS_NAME and self._os_at_least(GRIZZLY, version):
            return (self.info.password or '').encode('utf-8'), TEXT_PLAIN
        if name == VD_JSON_NAME and self._os_at_least(HAVANA, version):
            return dump_json(self.vendor_data()), APPLICATION_JSON
        if name == NW_JSON_NAME and self._os_at_least(LIBERTY, version):
            return dump_json(self.network_data()), APPLICATION_JSON
        if name == VD2_JSON_NAME and self._os_at_least(NEWTON_TWO, version):
            return dump_json(self.vendor_data2()), APPLICATION_JSON
        return None

    def _openstack_lookup(self, tokens, path):
        if tokens[0] == CONTENT_DIR:
            # /openstack/content itself is not listable (as Nova).
            if len(tokens) == 2 and tokens[1] in self.content:
                return self.content[tokens[1]], TEXT_PLAIN
            raise exception.MetadataNotFound(path=path)
        version = tokens[0]
        if version != LATEST and version not in OPENSTACK_VERSIONS:
            raise exception.MetadataNotFound(path=path)
        if len(tokens) == 1:
            return _to_bytes(ec2_md_print(self.version_listing(version))), TEXT_PLAIN
        if len(tokens) == 2:
            found = self._openstack_file(version, tokens[1])
            if found is not None:
                return found
        raise exception.MetadataNotFound(path=path)

    # --- the EC2 tree ---------------------------------------------------------------

    def ec2_metadata(self, version):
        """Nova's ``get_ec2_metadata``: ``{'meta-data': {...}, 'user-data': bytes}``."""
        if version == LATEST:
            version = EC2_VERSIONS[-1]
        if version not in EC2_VERSIONS:
            return None
        at_least = EC2_VERSIONS.index(version).__ge__
        info = self.info
        md = {
            'ami-id': info.ec2_ami_id,
            'ami-launch-index': info.launch_index,
            'ami-manifest-path': 'FIXME',
            'instance-id': info.ec2_instance_id,
            'hostname': self.hostname,
            'local-ipv4': self.address,
            'reservation-id': info.reservation_id or '',   # a record made by hand
            'security-groups': list(info.security_groups),
        }
        if info.key_name and info.public_keys:
            name, key = next(iter(info.public_keys.items()))
            md['public-keys'] = {'0': {'_name': '0=' + name, 'openssh-key': key}}
        if at_least(EC2_VERSIONS.index('2007-01-19')):
            md['local-hostname'] = self.hostname
            md['public-hostname'] = self.hostname
            md['public-ipv4'] = ''
        if at_least(EC2_VERSIONS.index('2007-08-29')):
            md['instance-type'] = info.flavor_name
        if at_least(EC2_VERSIONS.index('2007-12-15')):
            root = info.root_device_name
            md['block-device-mapping'] = {'ami': root.rsplit('/', 1)[-1], 'root': root}
        if at_least(EC2_VERSIONS.index('2008-02-01')):
            md['placement'] = {'availability-zone': info.availability_zone}
        if at_least(EC2_VERSIONS.index('2008-09-01')):
            md['instance-action'] = 'none'
        data = {'meta-data': md}
        if info.user_data is not None:
            data['user-data'] = info.user_data
        return data

    def _ec2_lookup(self, tokens, path):
        if len(tokens) == 1:
            return _to_bytes(ec2_md_print(list(EC2_VERSIONS) + [LATEST])), TEXT_PLAIN
        data = self.ec2_metadata(tokens[1])
        if data is None:
            raise exception.MetadataNotFound(path=path)
        for token in tokens[2:]:
            if not isinstance(data, dict) or token not in data:
                raise exception.MetadataNotFound(path=path)
            data = data[token]
        return _to_bytes(ec2_md_print(data)), TEXT_PLAIN

    # --- one path -------------------------------------------------------------------

    def lookup(self, path):
        """``(body, mimetype)`` of ``path``, as the metadata service answers it.

        Raises :class:`inject.exception.MetadataNotFound` for a path that does not
        exist; a vendordata provider's own failure propagates unchanged.
        """
        norm = posixpath.normpath('/' + (path or ''))
        tokens = [t for t in norm.split('/') if t]
        if not tokens or tokens[0] not in ('ec2', 'openstack'):
            tokens = ['ec2'] + tokens
        shown = '/' + '/'.join(tokens)
        if tokens[0] == 'openstack':
            if len(tokens) == 1:
                return _to_bytes(ec2_md_print(self.openstack_versions())), TEXT_PLAIN
            return self._openstack_lookup(tokens[1:], shown)
        return self._ec2_lookup(tokens, shown)

    # --- the config drive -----------------------------------------------------------

    def config_drive_files(self):
        """Yield ``(path inside the drive, bytes)`` in Nova's order.

        EC2 versions not in ``config_drive_skip_versions`` (``2009-04-04`` and
        ``latest`` by default), then every OpenStack version and ``latest``, then
        ``openstack/content/NNNN``. ``password`` is never on the drive.
        """
        for version in list(EC2_VERSIONS) + [LATEST]:
            if version in self.skip_versions:
                continue
            data = self.ec2_metadata(version)
            if 'user-data' in data:
                yield 'ec2/%s/user-data' % version, data['user-data']
            md = data['meta-data']
            if 'public-keys' in md:
                md['public-keys'] = {'0': {k: v for k, v in md['public-keys']['0'].items()
                                           if k != '_name'}}
            yield 'ec2/%s/meta-data.json' % version, dump_json(md)
        for version in list(OPENSTACK_VERSIONS) + [LATEST]:
            for name in (MD_JSON_NAME, UD_NAME, VD_JSON_NAME, NW_JSON_NAME, VD2_JSON_NAME):
                found = self._openstack_file(version, name, config_drive=True)
                if found is not None:
                    yield 'openstack/%s/%s' % (version, name), found[0]
        for key, data in self.content.items():
            yield 'openstack/%s/%s' % (CONTENT_DIR, key), data
