"""DynamicJSON: ask each ``[api]vendordata_dynamic_targets`` entry ``NAME@URL`` and put
its answer under NAME (Nova's ``nova/api/metadata/vendordata_dynamic.py``, B-3.x).

The request is Nova's: ``POST URL`` with the JSON body of :func:`request_body` (exactly
Nova's keys, in Nova's order) and the headers ``Content-Type``/``Accept:
application/json`` and ``User-Agent: openstack-nova-vendordata``, through a keystoneauth1
session loaded from ``[vendordata_dynamic_auth]``, so the auth plugin configured there
adds the service token (``X-Auth-Token``) that keystonemiddleware in front of the target
validates. With no ``auth_type`` the request goes without a token and a warning says so
once per process. Timeouts are ``(connect_timeout, read_timeout)``; an https URL is
always verified (against ``vendordata_dynamic_ssl_certfile`` when set).

A target fails when it cannot be reached, times out, answers a status outside 2xx, an
answer that is not JSON or larger than ``vendordata_dynamic_max_response_bytes``, or
when no service token can be had. A failed target gives ``{}`` and a warning in Nova's
words, or, with ``vendordata_dynamic_failure_fatal``,
:class:`~inject.exception.VendorDataTargetFailed` naming the target and the reason. A
2xx answer with no body (e.g. 204) is ``{}``, as Nova.

Differences from Nova, deliberate: answers are cached per (instance, target) as the
target's Cache-Control allows (:mod:`.cache`); keystoneauth's own failures (no token)
are target failures instead of escaping (B-3.12); request and response bodies (which
carry user data) are never logged; targets are validated when the provider is built.
"""

import hashlib
import json
import logging
import threading
import urllib.parse

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from inject import exception
from inject.conf import metadata as metadata_conf
from inject.metadata.vendordata import cache as cache_mod

LOG = logging.getLogger(__name__)

USER_AGENT = 'openstack-nova-vendordata'
HEADERS = {'Content-Type': 'application/json',
           'Accept': 'application/json',
           'User-Agent': USER_AGENT}
INSECURE_WARNING = ('Passing insecure dynamic vendordata requests because of missing or '
                    'incorrect service account configuration.')

#: The process-wide answer cache (shared by every provider in the process, so the
#: config drive of a build and the metadata service in one process ask only once).
CACHE = cache_mod.AnswerCache()


def parse_targets(entries):
    """``[(name, url)]`` from ``NAME@URL`` entries, in order.

    Split at the first ``@`` (so ``name@http://user:pw@host/`` keeps its user info, as
    Nova). Refused with :class:`~inject.exception.InvalidVendorDataTarget`: no ``@``,
    an empty name, a URL that is not http(s) with a host, and a name given twice (Nova
    skipped all of these with a warning at every request).
    """
    targets = []
    seen = set()
    for entry in entries:
        entry = entry.strip()
        if '@' not in entry:
            raise exception.InvalidVendorDataTarget(target=entry,
                                                    reason='it has no NAME@ part')
        name, url = entry.split('@', 1)
        if not name:
            raise exception.InvalidVendorDataTarget(target=entry,
                                                    reason='the name is empty')
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise exception.InvalidVendorDataTarget(
                target=entry, reason='%r is not an http or https URL with a host'
                % redact(url))
        if name in seen:
            raise exception.InvalidVendorDataTarget(
                target=entry, reason='the name %r is given twice' % name)
        seen.add(name)
        targets.append((name, url))
    return targets


def redact(url):
    """The URL without a password in its user info (for logs and faults)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = '%s:***@%s' % (parts.username or '', parts.netloc.rsplit('@', 1)[1])
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def request_body(info):
    """Nova's POST body (B-3.5): these keys, this order, nothing else."""
    return {
        'project-id': info.project_id,
        'instance-id': info.uuid,
        'image-id': info.image_id or '',
        'user-data': info.user_data_b64,
        'hostname': info.hostname,
        'metadata': dict(info.metadata or {}),
        'boot-roles': info.boot_roles_text,
    }


class TargetFailure(Exception):
    """Why one request to a target failed (the reason only; the caller names it)."""


class DynamicJSON:
    """The provider: :meth:`get` is ``{name: answer}`` for every target."""

    def __init__(self, conf, targets=None, cache=None, session=None):
        api = conf.api
        self.conf = conf
        self.targets = parse_targets(api.vendordata_dynamic_targets
                                     if targets is None else targets)
        self.connect_timeout = api.vendordata_dynamic_connect_timeout
        self.read_timeout = api.vendordata_dynamic_read_timeout
        self.certfile = api.vendordata_dynamic_ssl_certfile or None
        self.fatal = api.vendordata_dynamic_failure_fatal
        self.max_bytes = api.vendordata_dynamic_max_response_bytes
        self.default_ttl = api.metadata_cache_expiration
        self.cache = CACHE if cache is None else cache
        self._session = session
        self._authenticated = None
        self._session_lock = threading.Lock()

    # --- the keystoneauth1 session, made at the first request (B-3.13) -------------

    def session(self):
        with self._session_lock:
            if self._session is None:
                group = metadata_conf.VENDORDATA_AUTH_GROUP
                auth = ks_loading.load_auth_from_conf_options(self.conf, group)
                if auth is None:
                    LOG.warning(INSECURE_WARNING)
                self._session = ks_loading.load_session_from_conf_options(
                    self.conf, group, auth=auth)
            if self._authenticated is None:
                self._authenticated = self._session.auth is not None
            return self._session

    # --- the provider --------------------------------------------------------------

    def get(self, info):
        body = request_body(info)
        data = json.dumps(body)
        digest = hashlib.sha256(data.encode('utf-8')).hexdigest()
        answers = {}
        for name, url in self.targets:
            key = (info.uuid, name, url, digest)
            answers[name] = self._answer(key, name, url, data, info.uuid)
        return answers

    def _answer(self, key, name, url, data, uuid):
        failure = []

        def fetch():
            try:
                return self._request(url, data)
            except TargetFailure as e:
                failure.append(str(e))
                return {}, 0   # a failure is never cached

        value = self.cache.get_or_fetch(key, fetch)
        if failure:
            reason = failure[0]
            LOG.warning('Error from dynamic vendordata service %(service_name)s at '
                        '%(url)s: %(error)s (instance %(instance)s)',
                        {'service_name': name, 'url': redact(url), 'error': reason,
                         'instance': uuid})
            if self.fatal:
                raise exception.VendorDataTargetFailed(target=name, url=redact(url),
                                                       reason=reason)
        return value

    def _request(self, url, data):
        """``(answer, ttl)`` of one POST, or :class:`TargetFailure`."""
        session = self.session()
        verify = True
        if url.startswith('https://') and self.certfile:
            verify = self.certfile
        try:
            resp = session.request(
                url, 'POST', data=data, headers=dict(HEADERS),
                timeout=(self.connect_timeout, self.read_timeout), verify=verify,
                raise_exc=False, log=False, stream=True, connect_retries=0,
                authenticated=self._authenticated)
        except ks_exc.ConnectTimeout:
            raise TargetFailure('no answer within %d s to connect and %d s to read'
                                % (self.connect_timeout, self.read_timeout))
        except ks_exc.SSLError as e:
            raise TargetFailure('TLS failed (%s)' % _clean(e, url))
        except ks_exc.ConnectFailure as e:
            raise TargetFailure('cannot connect (%s)' % _clean(e, url))
        except ks_exc.ClientException as e:
            # keystoneauth's own failures: no token could be had for the request.
            raise TargetFailure('no service token from [%s] (%s: %s)'
                                % (metadata_conf.VENDORDATA_AUTH_GROUP,
                                   type(e).__name__, _clean(e, url)))
        except (OSError, ValueError, TypeError) as e:
            raise TargetFailure('%s: %s' % (type(e).__name__, _clean(e, url)))
        try:
            if not 200 <= resp.status_code < 300:
                raise TargetFailure('HTTP %d %s' % (resp.status_code,
                                                    resp.reason or ''))
            raw = self._read(resp)
        finally:
            resp.close()
        if not raw.strip():
            answer = {}   # 204, or any 2xx without a body (Nova, bug 1669084)
        else:
            try:
                answer = json.loads(raw)
            except ValueError as e:
                raise TargetFailure('the answer is not JSON (%s)' % e)
        ttl = cache_mod.max_age(resp.headers.get('Cache-Control'), self.default_ttl)
        return answer, ttl

    def _read(self, resp):
        too_large = TargetFailure('the answer is larger than %d bytes '
                                  '([api]vendordata_dynamic_max_response_bytes)'
                                  % self.max_bytes)
        length = resp.headers.get('Content-Length')
        if length and length.strip().isdigit() and int(length) > self.max_bytes:
            raise too_large
        chunks = []
        total = 0
        try:
            for chunk in resp.iter_content(65536):
                total += len(chunk)
                if total > self.max_bytes:
                    raise too_large
                chunks.append(chunk)
        except OSError as e:   # requests' errors while reading the body
            if 'timed out' in str(e).lower():
                raise TargetFailure('the answer did not arrive within the read '
                                    'timeout of %d s' % self.read_timeout)
            raise TargetFailure('the answer was cut short (%s)' % e)
        return b''.join(chunks)


def _clean(exc, url):
    """An exception's text without the URL's password."""
    text = str(exc)
    return text.replace(url, redact(url)) if url != redact(url) else text
