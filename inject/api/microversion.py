"""The microversions inject-api speaks, one line per version, and header parsing.

Every version up to the maximum is listed because clients negotiate by number; a
version that changes nothing in the resources served here says so. Bodies follow
Nova's at each version (tempest's response schemas are the contract).
"""

import re

import microversion_parse

SERVICE_TYPE = 'compute'
LEGACY_HEADER = 'X-OpenStack-Nova-API-Version'
STANDARD_HEADER = 'OpenStack-API-Version'
VARY = '%s, %s' % (STANDARD_HEADER, LEGACY_HEADER)

VERSIONS = [
    '2.1',   # the v2.1 API as Nova released it in Kilo
    '2.2',   # keypair types (keypairs are not served here)
    '2.3',   # admin-only extended server attributes (not shown: no hypervisor details)
    '2.4',   # volume attachment flags (not served)
    '2.5',   # ip6 filter for admins (not served)
    '2.6',   # remote consoles (not served)
    '2.7',   # flavor access checks (no private flavors here)
    '2.8',   # mks consoles (not served)
    '2.9',   # servers show "locked"
    '2.10',  # keypairs per user (not served)
    '2.11',  # service forced_down (not served)
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
    '2.28',  # hypervisor cpu_info as object (not served)
    '2.29',  # evacuate force (not served)
    '2.30',  # live migrate force (not served)
    '2.31',  # serial consoles (not served)
    '2.32',  # device tags on create networks and block devices (accepted, ignored)
    '2.33',  # hypervisor pagination (not served)
    '2.34',  # async live-migration checks (not served)
    '2.35',  # keypair pagination (not served)
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
    '2.51',  # volume-extended event (not served)
    '2.52',  # "tags" on create
    '2.53',  # service and hypervisor uuids (not served)
    '2.54',  # rebuild accepts "key_name" (only null here: no keypairs) and returns it
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


def headers(version):
    """Response headers announcing ``version``."""
    return [(STANDARD_HEADER, '%s %s' % (SERVICE_TYPE, version)),
            (LEGACY_HEADER, str(version)),
            ('Vary', VARY)]


def at_least(version, text):
    return version >= parse(text)
