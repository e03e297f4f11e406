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
answer that is not JSON or larger than ``vendordata_dynamic_max_response_bytes``, a
redirect that leaves its scheme, host and port (or more than :data:`MAX_REDIRECTS`
of them, see :func:`follow`), or when no service token can be had. A failed target gives ``{}`` and a warning in Nova's
words, or, with ``vendordata_dynamic_failure_fatal``,
:class:`~inject.exception.VendorDataTargetFailed` naming the target and the reason. A
2xx answer with no body (e.g. 204) is ``{}``, as Nova.

Differences from Nova, deliberate: answers are cached per (instance, target) as the
target's Cache-Control allows, up to ``vendordata_dynamic_max_cache_age``
(:mod:`.cache`); keystoneauth's own failures (no token) are target failures instead
of escaping (B-3.12), and told apart from the target's; redirects are followed only
within the target's origin, so the user data and the service token never go
anywhere else; request and response bodies (which carry user data) are never
logged; targets are validated when the provider is built.
"""

import hashlib
import json
import logging
import threading
import urllib.parse

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from inject import exception
from inject.conf import base as conf_base
from inject.conf import metadata as metadata_conf
from inject.metadata.vendordata import cache as cache_mod

LOG = logging.getLogger(__name__)

USER_AGENT = 'openstack-nova-vendordata'
HEADERS = {'Content-Type': 'application/json',
           'Accept': 'application/json',
           'User-Agent': USER_AGENT}
INSECURE_WARNING = ('Passing insecure dynamic vendordata requests because of missing or '
                    'incorrect service account configuration.')

#: Redirects followed, and only within the target's own origin (see :func:`follow`).
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
DEFAULT_PORTS = {'http': 80, 'https': 443}

#: The process-wide answer cache (shared by every provider in the process, so the
#: config drive of a build and the metadata service in one process ask only once).
CACHE = cache_mod.AnswerCache()


def register_opts(conf):
    """The options of the keystoneauth plugin ``[vendordata_dynamic_auth]auth_type``
    names, registered at start (keystoneauth would at the first request), so that the
    service checks their values, and the plugin's name, before it serves."""
    conf_base.register_auth_plugin(conf, metadata_conf.VENDORDATA_AUTH_GROUP)


def parse_targets(entries):
    """``[(name, url)]`` from ``NAME@URL`` entries, in order (the option's own type,
    :class:`inject.conf.metadata.VendordataTargets`, says which are valid).
    :class:`~inject.exception.InvalidVendorDataTarget` for invalid ones."""
    try:
        entries = metadata_conf.VendordataTargets()(entries)
    except ValueError as e:
        raise exception.InvalidVendorDataTarget(reason=str(e))
    return [tuple(entry.split('@', 1)) for entry in entries]


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
        self.max_ttl = api.vendordata_dynamic_max_cache_age
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
        """``(answer, ttl)`` of one POST (and the redirects it may follow, see
        :func:`follow`), or :class:`TargetFailure`."""
        session = self.session()
        self._token(session)
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            resp = self._post(session, current, data)
            if resp.status_code not in REDIRECT_STATUSES:
                break
            resp.close()
            current = follow(url, current, resp, hop)
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
        ttl = cache_mod.max_age(resp.headers.get('Cache-Control'), self.default_ttl,
                                self.max_ttl)
        return answer, ttl

    def _token(self, session):
        """Get the service token before the request (keystoneauth keeps it for the
        request itself), so that failing to get one is told apart from the target's
        own failures."""
        if not self._authenticated:
            return
        try:
            session.get_auth_headers()
        except ks_exc.ClientException as e:
            raise TargetFailure('no service token from [%s] (%s: %s)'
                                % (metadata_conf.VENDORDATA_AUTH_GROUP,
                                   type(e).__name__, e))

    def _post(self, session, url, data):
        """One POST to ``url``, its redirects not followed (see :func:`follow`)."""
        verify = True
        if url.startswith('https://') and self.certfile:
            verify = self.certfile
        try:
            return session.request(
                url, 'POST', data=data, headers=dict(HEADERS),
                timeout=(self.connect_timeout, self.read_timeout), verify=verify,
                raise_exc=False, log=False, stream=True, connect_retries=0,
                redirect=False, authenticated=self._authenticated)
        except ks_exc.ConnectTimeout:
            raise TargetFailure('no answer within %d s to connect and %d s to read'
                                % (self.connect_timeout, self.read_timeout))
        except ks_exc.SSLError as e:
            raise TargetFailure('TLS failed (%s)' % _clean(e, url))
        except ks_exc.ConnectFailure as e:
            raise TargetFailure('cannot connect (%s)' % _clean(e, url))
        except ks_exc.ConnectionError as e:
            raise TargetFailure('the request failed (%s: %s)'
                                % (type(e).__name__, _clean(e, url)))
        except ks_exc.ClientException as e:
            # keystoneauth's own failures: a new token was needed (the target
            # answered 401 to the one we had) and none could be had.
            raise TargetFailure('no service token from [%s] (%s: %s)'
                                % (metadata_conf.VENDORDATA_AUTH_GROUP,
                                   type(e).__name__, _clean(e, url)))
        except (OSError, ValueError, TypeError) as e:
            raise TargetFailure('%s: %s' % (type(e).__name__, _clean(e, url)))

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


def origin(url):
    """``(scheme, host, port)`` of an http(s) URL (the port filled in); ValueError
    for anything else."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(url)
    return scheme, parts.hostname, parts.port or DEFAULT_PORTS[scheme]


def follow(target_url, current, resp, hop):
    """The URL a redirect ``resp`` to the POST to ``current`` leads to, when it is
    followed; :class:`TargetFailure` naming it otherwise.

    Nova's keystoneauth session follows up to 30 redirects anywhere, sending the
    same POST, the user data and the service token to whatever host ``Location``
    names; a scheme requests cannot speak (``file:``) then surfaced as a keystoneauth
    UnknownConnectionError. Here a redirect is followed (the same POST again, as
    keystoneauth sends it) only within the configured target's origin: the same
    scheme, host and port, at most :data:`MAX_REDIRECTS` times. One to another
    scheme (``file:``, ``ftp:``, ``https:`` from ``http:`` and back), host or port is
    a failure of the target naming where it pointed: the operator configures the
    URL a target's answer is meant to come from.
    """
    location = resp.headers.get('Location')
    if not location:
        raise TargetFailure('HTTP %d redirect without a Location' % resp.status_code)
    where = urllib.parse.urljoin(current, location.strip())
    try:
        same = origin(where) == origin(target_url)
    except ValueError:
        same = False
    if not same:
        home = urllib.parse.urlsplit(target_url)
        raise TargetFailure(
            'redirected (HTTP %d) to %s, which is not followed: a target may only '
            'redirect within its own scheme, host and port (%s://%s); configure the '
            'URL it redirects to instead' % (resp.status_code, redact(where),
                                             home.scheme, home.netloc.rsplit('@', 1)[-1]))
    if hop >= MAX_REDIRECTS:
        raise TargetFailure('more than %d redirects (the last, HTTP %d, to %s)'
                            % (MAX_REDIRECTS, resp.status_code, redact(where)))
    return where


def _clean(exc, url):
    """An exception's text without the URL's password."""
    text = str(exc)
    return text.replace(url, redact(url)) if url != redact(url) else text
