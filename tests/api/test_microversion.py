"""Microversion gating as data: the version constants, select() over (min, max, value)
tables, and tables that cover every version with the rules Nova's schemas follow."""

import pytest

from inject.api import microversion as mv
from inject.api import quotas
from inject.api.schemas import quotas as quota_schemas
from inject.api.schemas import servers as server_schemas

ALL = [mv.parse(v) for v in mv.VERSIONS]


def test_versions_are_listed_in_order_without_gaps():
    assert ALL[0] == mv.MIN and ALL[-1] == mv.MAX
    assert ALL == sorted(ALL)
    assert [v.minor for v in ALL] == list(range(1, mv.MAX.minor + 1))


def test_constants_are_parsed_versions():
    assert mv.V2_57 == (2, 57) and mv.V2_9 > mv.V2_3 and str(mv.V2_19) == '2.19'
    for name in dir(mv):
        if name.startswith('V2_'):
            assert getattr(mv, name) == mv.parse(name[1:].replace('_', '.'))


def test_select_picks_the_row_holding_the_version():
    table = [(mv.MIN, mv.V2_18, 'a'), (mv.V2_19, mv.MAX, 'b')]
    assert mv.select(table, mv.MIN) == 'a'
    assert mv.select(table, mv.V2_18) == 'a'
    assert mv.select(table, mv.V2_19) == 'b'
    assert mv.select(table, mv.MAX) == 'b'
    with pytest.raises(LookupError):
        mv.select([(mv.V2_19, mv.MAX, 'b')], mv.MIN)


TABLES = {
    'create': server_schemas.CREATE, 'rebuild': server_schemas.REBUILD,
    'quota sets': quotas.QUOTA_SET_RESOURCES,
    'quota classes': quotas.QUOTA_CLASS_RESOURCES,
    'quota set updates': quota_schemas.UPDATE_QUOTA_SET,
    'quota class updates': quota_schemas.UPDATE_QUOTA_CLASS_SET,
}


@pytest.mark.parametrize('name', sorted(TABLES))
def test_tables_cover_every_version_once(name):
    for version in ALL:
        rows = [r for r in TABLES[name] if r[0] <= version <= r[1]]
        assert len(rows) == 1, (name, str(version))


@pytest.mark.parametrize('version', ALL, ids=str)
def test_create_schema_per_version(version):
    server = mv.select(server_schemas.CREATE, version)['properties']['server']
    props = server['properties']
    assert ('description' in props) == (version >= (2, 19))
    assert ('networks' in server['required']) == (version >= (2, 37))
    assert ('tags' in props) == (version >= (2, 52))
    assert ('personality' in props) == (version < (2, 57))
    # imageRef may be left out (or empty) when a block device mapping is given
    assert server['required'][:2] == ['name', 'flavorRef']
    assert 'imageRef' not in server['required']
    assert {'block_device_mapping', 'block_device_mapping_v2'} <= set(props)
    # Device tags: 2.32 on both; 2.33-2.36 on networks; 2.42 on both again
    bdm_tag = 'tag' in props['block_device_mapping_v2']['items']['properties']
    assert bdm_tag == (version == (2, 32) or version >= (2, 42))
    networks = props['networks']
    as_list = networks['oneOf'][0] if 'oneOf' in networks else networks
    net_tag = 'tag' in as_list['items']['properties']
    assert net_tag == ((2, 32) <= version < (2, 37) or version >= (2, 42))
    assert ('oneOf' in networks) == (version >= (2, 37))
    uuid_format = as_list['items']['properties']['uuid'].get('format')
    assert (uuid_format == 'uuid') == (version >= (2, 37))


@pytest.mark.parametrize('version', ALL, ids=str)
def test_rebuild_schema_per_version(version):
    props = mv.select(server_schemas.REBUILD, version)['properties']['rebuild'][
        'properties']
    assert ('description' in props) == (version >= (2, 19))
    assert ('key_name' in props) == (version >= (2, 54))
    assert ('personality' in props) == (version < (2, 57))
    assert ('user_data' in props) == (version >= (2, 57))


def test_schemas_are_constants_not_copies():
    version = mv.parse('2.40')
    assert mv.select(server_schemas.CREATE, version) is server_schemas.CREATE_V237
    assert mv.select(server_schemas.CREATE, version) is mv.select(
        server_schemas.CREATE, mv.parse('2.37'))
    assert mv.select(server_schemas.CREATE, mv.parse('2.45')) is mv.select(
        server_schemas.CREATE, mv.parse('2.51'))


def test_personality_contents_is_left_to_the_personality_module():
    item = server_schemas.CREATE_V21['properties']['server']['properties'][
        'personality']['items']
    assert item['properties']['contents'] == {'type': 'string'}


@pytest.mark.parametrize('version', ALL, ids=str)
def test_quota_resources_per_version(version):
    shown = set(quotas.quota_set_resources(version))
    classes = set(quotas.quota_class_resources(version))
    network = set(quotas.NETWORK_DEFAULTS)
    injected = set(quotas.INJECTED)
    groups = set(quotas.SERVER_GROUPS)
    assert (network <= shown) == (version < (2, 36))
    assert not (network & shown) or version < (2, 36)
    assert (network <= classes) == (version < (2, 50))
    assert (groups <= classes) == (version >= (2, 50))
    assert groups <= shown
    for names in (shown, classes):
        assert (injected <= names) == (version < (2, 57))
        assert not (injected & names) or version < (2, 57)
    update = mv.select(quota_schemas.UPDATE_QUOTA_SET, version)
    assert set(update['properties']['quota_set']['properties']) == shown | {'force'}
    update = mv.select(quota_schemas.UPDATE_QUOTA_CLASS_SET, version)
    assert set(update['properties']['quota_class_set']['properties']) == classes
