"""The microversions inject-api speaks, one line per version; header parsing; and the
version ranges that gate behaviour, as data.

Every version up to the maximum is listed because clients negotiate by number; a
version that changes nothing in the resources served here says so. Bodies follow
Nova's at each version (tempest's response schemas are the contract).

A request's version is parsed once (:func:`from_headers`) into a
:class:`microversion_parse.Version`, a comparable ``(major, minor)`` tuple. Code compares
it with the constants below (``req.version >= V2_57``), or picks what applies from a
table of ``(min, max, value)`` rows with :func:`select`, as Nova's
``@validation.schema(..., min_version, max_version)`` and placement's
``microversion.py`` do.
"""

import re

import microversion_parse

SERVICE_TYPE = 'compute'
LEGACY_HEADER = 'X-OpenStack-Nova-API-Version'
STANDARD_HEADER = 'OpenStack-API-Version'
VARY = '%s, %s' % (STANDARD_HEADER, LEGACY_HEADER)

VERSIONS = [
    '2.1',   # the v2.1 API as Nova released it in Kilo
    '2.2',   # keypair "type" (ssh, x509); create answers 201, delete 204
    '2.3',   # admin-only extended server attributes (not shown: no hypervisor details)
    '2.4',   # volume attachment flags (not served)
    '2.5',   # ip6 filter for admins (not served)
    '2.6',   # remote consoles (not served)
    '2.7',   # flavor access checks (no private flavors here)
    '2.8',   # mks consoles (not served)
    '2.9',   # servers show "locked"
    '2.10',  # keypairs of another user for admins (user_id)
    '2.11',  # os-services: forced_down in every service, the force-down action
    '2.12',  # VIF net_id (not served)
    '2.13',  # server group project/user ids (not served)
    '2.14',  # evacuate without on_shared_storage (not served)
    '2.15',  # soft affinity policies (not served)
    '2.16',  # host_status for admins (not shown: single host)
    '2.17',  # trigger crash dump (not served)
    '2.18',  # project id optional in URLs (always optional here)
    '2.19',  # server "description" on create, rebuild and every server body
    '2.20',  # volume operations in more states (not served)
    '2.21',  # actions of deleted servers (not served)
    '2.22',  # live-migration force complete (not served)
    '2.23',  # migrations list (not served)
    '2.24',  # abort live migration (not served)
    '2.25',  # block_migration auto (not served)
    '2.26',  # server "tags" in every server body
    '2.27',  # OpenStack-API-Version header (accepted at every version here)
    '2.28',  # os-hypervisors: cpu_info an object, not a JSON string
    '2.29',  # evacuate force (not served)
    '2.30',  # live migrate force (not served)
    '2.31',  # serial consoles (not served)
    '2.32',  # device tags on create networks and block devices (accepted, ignored)
    '2.33',  # os-hypervisors: limit and marker, hypervisors_links
    '2.34',  # async live-migration checks (not served)
    '2.35',  # keypair list pagination (limit, marker, keypairs_links)
    '2.36',  # proxy APIs deprecated: /images answers 404; network quotas and limits gone
    '2.37',  # "networks" required on create ("auto" or "none" or a list)
    '2.38',  # server list status filter validated (not served)
    '2.39',  # limits lose maxImageMeta
    '2.40',  # usage pagination (not served)
    '2.41',  # aggregate uuid (not served)
    '2.42',  # device tags again (accepted, ignored)
    '2.43',  # os-hosts deprecated (not served)
    '2.44',  # network proxy actions deprecated (not served)
    '2.45',  # createImage returns the id (not served)
    '2.46',  # request ids of instance actions (not served)
    '2.47',  # server bodies embed the flavor instead of linking it
    '2.48',  # diagnostics format (not served)
    '2.49',  # tagged attach (not served)
    '2.50',  # quota classes: server_groups, server_group_members; network quotas gone
    '2.51',  # instance action events shown to their owner (volume-extended: not served)
    '2.52',  # "tags" on create
    '2.53',  # service and hypervisor ids are uuids; PUT /os-services/{uuid} with
             # status, disabled_reason, forced_down; os-hypervisors
             # hypervisor_hostname_pattern and with_servers, strict queries; the
             # /search and /servers routes of os-hypervisors gone
    '2.54',  # rebuild accepts "key_name" (null unsets the key) and returns it
    '2.55',  # flavor "description"
    '2.56',  # cold migrate target host (not served); last version with personality
    '2.57',  # personality removed from create and rebuild (400); rebuild takes
             # "user_data"; maxPersonality* limits and injected_* quotas hidden
]

MIN_VERSION = VERSIONS[0]
MAX_VERSION = VERSIONS[-1]

_FORMAT = re.compile(r'^([1-9]\d*)\.([1-9]\d*|0)$')


class MalformedVersion(ValueError):
    pass


class UnsupportedVersion(ValueError):
    pass


def parse(version_string):
    """A :class:`microversion_parse.Version` from text, or MalformedVersion."""
    if not _FORMAT.match(version_string or ''):
        raise MalformedVersion(
            'API Version String %s is of invalid format. Must be of format '
            'MajorNum.MinorNum.' % version_string)
    return microversion_parse.parse_version_string(version_string)


MIN = parse(MIN_VERSION)
MAX = parse(MAX_VERSION)


def from_headers(headers):
    """The version a request asks for: none means 2.1, ``latest`` the maximum.

    Reads ``OpenStack-API-Version: compute X`` first, then the legacy
    ``X-OpenStack-Nova-API-Version``. Raises MalformedVersion (400) or
    UnsupportedVersion (406).
    """
    try:
        text = microversion_parse.get_version(
            dict(headers), service_type=SERVICE_TYPE, legacy_headers=[LEGACY_HEADER])
    except ValueError:
        raise MalformedVersion('The OpenStack-API-Version header is malformed.')
    if text is None:
        return MIN
    text = text.strip()
    if text.lower() == 'latest':
        return MAX
    version = parse(text)
    if not MIN <= version <= MAX:
        raise UnsupportedVersion(
            'Version %s is not supported by the API. Minimum is %s and maximum is %s.'
            % (text, MIN_VERSION, MAX_VERSION))
    return version


def _listed(text):
    if text not in VERSIONS:
        raise ValueError('%s is not a version inject-api speaks' % text)
    return parse(text)


# The versions that change something here (VERSIONS says what), and the last version
# before some of them, for the upper ends of ranges in tables.
V2_1 = _listed('2.1')
V2_2 = _listed('2.2')
V2_3 = _listed('2.3')
V2_9 = _listed('2.9')
V2_10 = _listed('2.10')
V2_11 = _listed('2.11')
V2_16 = _listed('2.16')
V2_18 = _listed('2.18')
V2_19 = _listed('2.19')
V2_26 = _listed('2.26')
V2_28 = _listed('2.28')
V2_31 = _listed('2.31')
V2_32 = _listed('2.32')
V2_33 = _listed('2.33')
V2_35 = _listed('2.35')
V2_36 = _listed('2.36')
V2_37 = _listed('2.37')
V2_39 = _listed('2.39')
V2_41 = _listed('2.41')
V2_42 = _listed('2.42')
V2_47 = _listed('2.47')
V2_49 = _listed('2.49')
V2_50 = _listed('2.50')
V2_51 = _listed('2.51')
V2_52 = _listed('2.52')
V2_53 = _listed('2.53')
V2_54 = _listed('2.54')
V2_55 = _listed('2.55')
V2_56 = _listed('2.56')
V2_57 = _listed('2.57')


def select(table, version):
    """The value of the ``(min, max, value)`` row of ``table`` whose range (both ends
    included) holds ``version``. Tables cover MIN..MAX, so a row always matches."""
    for low, high, value in table:
        if low <= version <= high:
            return value
    raise LookupError('no row for version %s' % (version,))


def headers(version):
    """Response headers announcing ``version``."""
    return [(STANDARD_HEADER, '%s %s' % (SERVICE_TYPE, version)),
            (LEGACY_HEADER, str(version)),
            ('Vary', VARY)]
