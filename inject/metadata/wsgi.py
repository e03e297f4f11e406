"""``inject-metadata``'s WSGI application: Nova's metadata service behind Neutron's
metadata proxy (``nova/api/metadata/handler.py``, B-5.1).

Every request but ``GET /`` names its instance the way Neutron's proxy does:
``X-Instance-ID``, ``X-Tenant-ID`` and ``X-Instance-ID-Signature``, the hex
HMAC-SHA256 of the instance id under ``[neutron]metadata_proxy_shared_secret``.

* a missing header: 400 naming it (Nova's wording);
* a missing or wrong signature: 403 ``Invalid proxy request signature.``;
* an instance that does not exist (or is deleted): 404;
* a tenant that is not the instance's project: 404, as Nova (the instance is not
  disclosed to another project);
* a path that does not exist: 404; a method other than GET/HEAD (and POST to
  ``password``): 405.

What is read from the database (the instance, its metadata and system metadata) is kept
per instance for ``[api]metadata_cache_expiration`` seconds (0: read every time); the
metadata tree is rendered from it for each request, and the dynamic vendordata answers
come from their own per (instance, target) cache, so a target's ``Cache-Control`` is
honoured even while the instance is cached. Nothing cached for one instance is reachable
with another's identity: every entry is keyed by the instance's UUID and the tenant is
checked on every request, cached or not.

A dynamic vendordata target failing while ``vendordata_dynamic_failure_fatal`` is on
makes ``vendor_data2.json`` a 503 naming the target and the reason (Nova: a bare 500);
an invalid static vendordata file makes ``vendor_data*.json`` a 500 (the file's path is
in the log, not in the answer); other paths of the instance are still served.
"""

import collections
import hashlib
import hmac
import logging
import posixpath
import threading
import time

import webob
import webob.exc

from inject import exception
from inject.db import api as db_api
from inject.db import system_metadata
from inject.metadata import base
from inject.metadata import instance as instance_mod
from inject.metadata.vendordata import cache as vendordata_cache
from inject.metadata.vendordata import providers

LOG = logging.getLogger(__name__)

UNKNOWN_ERROR = 'An unknown error has occurred. Please try your request again.'
#: Instances whose database record is kept at most (least recently used go first).
MAX_CACHED_INSTANCES = 4096
#: Nova's limit on a posted password (4 system metadata values of 255 characters).
MAX_PASSWORD_BYTES = len(system_metadata.PASSWORD_KEYS) * system_metadata.PASSWORD_CHUNK


def sign(secret, instance_id):
    """The ``X-Instance-ID-Signature`` Neutron's proxy sends for ``instance_id``."""
    return hmac.new(secret.encode('utf-8'), instance_id.encode('utf-8'),
                    hashlib.sha256).hexdigest()


class _Fault(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class MetadataApp:
    """The application. ``db`` is a :class:`~inject.db.api.Database` (default: the one
    of ``[database]connection``, never migrated from here); ``vendordata`` a
    vendordata provider (default: the configured ones)."""

    def __init__(self, conf, db=None, vendordata=None, clock=time.monotonic):
        self.conf = conf
        self.secret = conf.neutron.metadata_proxy_shared_secret
        if not self.secret:
            raise exception.InjectError(
                '[neutron]metadata_proxy_shared_secret is empty: set it to the secret '
                'Neutron\'s metadata proxy signs X-Instance-ID with (anyone could sign '
                'requests with an empty one).')
        self.ttl = conf.api.metadata_cache_expiration
        self.db = db or db_api.Database(conf.database.connection, sync=False)
        # Dynamic answers are shared through the database with inject-api, which
        # obtained them when it built the config drive (one POST per build).
        self.vendordata = (vendordata if vendordata is not None
                           else providers.ConfiguredVendorData(
                               conf, cache=_shared_cache(self.db)))
        self.clock = clock
        self._instances = collections.OrderedDict()   # uuid -> (InstanceInfo, expires)
        self._lock = threading.Lock()
        #: How many times an instance was read from the database (tests, benchmarks).
        self.db_reads = 0

    # --- WSGI ----------------------------------------------------------------------

    def __call__(self, environ, start_response):
        start = time.monotonic()
        req = webob.Request(environ)
        try:
            resp = self._handle(req)
        except _Fault as f:
            resp = _text(f.status, f.message)
        except Exception:
            LOG.exception('%s %s failed', req.method, req.path)
            resp = _text(500, UNKNOWN_ERROR)
        LOG.info('%s "%s %s" status: %s len: %s time: %.4f',
                 req.headers.get('X-Forwarded-For') or req.remote_addr, req.method,
                 req.path, resp.status_int, resp.content_length or 0,
                 time.monotonic() - start)
        return resp(environ, start_response)

    def _handle(self, req):
        path = posixpath.normpath('/' + req.path_info.lstrip('/'))
        is_password = posixpath.basename(path) == base.PASS_NAME
        if req.method not in ('GET', 'HEAD') and not (req.method == 'POST'
                                                       and is_password):
            resp = _text(405, 'The method %s is not allowed here.' % req.method)
            resp.allow = ('GET', 'HEAD', 'POST') if is_password else ('GET', 'HEAD')
            return resp
        if path == '/':
            return _body(base.ec2_md_print(list(base.EC2_VERSIONS) + [base.LATEST]),
                         base.TEXT_PLAIN)
        info = self._identify(req)
        md = base.InstanceMetadata(info, self.vendordata, conf=self.conf,
                                   address=req.headers.get('X-Forwarded-For'))
        if req.method == 'POST':
            return self._set_password(req, md, path)
        try:
            body, mimetype = md.lookup(path)
        except exception.MetadataNotFound:
            return _text(404, 'No metadata at %s.' % path)
        except exception.VendorDataTargetFailed as e:
            LOG.error('Instance %s, %s: %s', info.uuid, path, e)
            return _text(503, 'Dynamic vendordata target %r failed: %s '
                              '(vendordata_dynamic_failure_fatal is on).'
                         % (e.target, e.reason))
        except exception.StaticVendorDataInvalid as e:
            LOG.error('Instance %s, %s: %s', info.uuid, path, e)
            return _text(500, 'Vendordata is not available: the static vendordata '
                              'file of this cloud is invalid (the metadata service '
                              'log says why).')
        return _body(body, mimetype)

    # --- who is asking (Neutron's proxy headers) -----------------------------------

    def _identify(self, req):
        instance_id = req.headers.get('X-Instance-ID')
        tenant_id = req.headers.get('X-Tenant-ID')
        signature = req.headers.get('X-Instance-ID-Signature')
        if instance_id is None:
            raise _Fault(400, 'X-Instance-ID header is missing from request.')
        if signature is None:
            raise _Fault(400, 'X-Instance-ID-Signature header is missing from request.')
        if tenant_id is None:
            raise _Fault(400, 'X-Tenant-ID header is missing from request.')
        # A WSGI server joins repeated headers with ", ".
        if ',' in instance_id:
            raise _Fault(400, 'Multiple X-Instance-ID headers found within request.')
        if ',' in tenant_id:
            raise _Fault(400, 'Multiple X-Tenant-ID headers found within request.')
        expected = sign(self.secret, instance_id)
        if not hmac.compare_digest(expected.encode('ascii'),
                                   signature.strip().encode('utf-8', 'replace')):
            LOG.warning('X-Instance-ID-Signature: %s does not match the expected '
                        'signature for id: %s. Request From: %s', signature,
                        instance_id, req.headers.get('X-Forwarded-For'))
            raise _Fault(403, 'Invalid proxy request signature.')
        info = self._instance(instance_id)
        if info is None:
            LOG.error('Failed to get metadata for instance id: %s', instance_id)
            raise _Fault(404, 'No instance %s.' % instance_id)
        if info.project_id != tenant_id:
            LOG.warning('Tenant_id %s does not match tenant_id of instance %s.',
                        tenant_id, instance_id)
            raise _Fault(404, 'No instance %s.' % instance_id)
        return info

    def _instance(self, uuid):
        """The InstanceInfo of ``uuid`` (cached), or None when there is none."""
        now = self.clock()
        with self._lock:
            entry = self._instances.get(uuid)
            if entry is not None:
                if now < entry[1]:
                    self._instances.move_to_end(uuid)
                    return entry[0]
                del self._instances[uuid]
        self.db_reads += 1
        info = instance_mod.load(self.db, uuid)
        if info is None:
            return None
        if self.ttl > 0:
            with self._lock:
                self._instances[uuid] = (info, now + self.ttl)
                while len(self._instances) > MAX_CACHED_INSTANCES:
                    self._instances.popitem(last=False)
        return info

    def forget(self, uuid):
        with self._lock:
            self._instances.pop(uuid, None)

    # --- POST password (Nova's handle_password) ------------------------------------

    def _set_password(self, req, md, path):
        try:
            md.lookup(path)          # 404 for a version without password
        except exception.MetadataNotFound:
            return _text(404, 'No metadata at %s.' % path)
        if req.content_length is not None and req.content_length > MAX_PASSWORD_BYTES:
            return _text(400, 'Request is too large.')
        data = req.body_file.read(MAX_PASSWORD_BYTES + 1)
        if len(data) > MAX_PASSWORD_BYTES:
            return _text(400, 'Request is too large.')
        # Read the record again: the cached one may predate another POST.
        self.forget(md.info.uuid)
        current = instance_mod.load(self.db, md.info.uuid)
        if current is None:
            return _text(404, 'No instance %s.' % md.info.uuid)
        if current.password:
            return _text(409, 'The password is already set.')
        text = data.decode('utf-8', 'replace')
        self.db.instance_system_metadata_update(
            md.info.uuid, system_metadata.password_chunks(text))
        self.forget(md.info.uuid)
        return _body(b'', base.TEXT_PLAIN)


def _shared_cache(db):
    """The dynamic vendordata answer cache, kept in ``db`` when it can keep them."""
    if hasattr(db, 'vendordata_answer_get'):
        return vendordata_cache.SharedAnswerCache(db)
    return None


def _body(body, mimetype):
    resp = webob.Response(status=200)
    resp.content_type = mimetype
    resp.body = body if isinstance(body, bytes) else body.encode('utf-8')
    return resp


def _text(status, message):
    resp = webob.Response(status=status)
    resp.content_type = 'text/plain'
    resp.body = message.encode('utf-8')
    return resp


def make_app(conf, db=None, vendordata=None):
    return MetadataApp(conf, db=db, vendordata=vendordata)
