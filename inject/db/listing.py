"""Server lists in SQL: filters, Nova's sort keys, keyset paging after a marker, and
the light rows a list view needs (no ORM objects)."""

import datetime
import typing

import sqlalchemy as sa

from inject.db import models
from inject.db import system_metadata


def page(conn, filters, limit=None, marker=None, sort=(), match=None, detail=False):
    """One page of instances read on ``conn`` (see
    :meth:`inject.db.api.Database.instance_page`)."""
    I = models.Instance
    order = _order(sort)
    conditions = _conditions(filters)
    if marker is not None:
        mq = sa.select(*[expr for expr, _ in order]).where(I.uuid == marker)
        if 'project_id' in filters:
            mq = mq.where(_match(I.project_id, filters['project_id']))
        row = conn.execute(mq).first()
        if row is None:
            raise MarkerNotFound(marker)
        conditions.append(_after(order, row))
    ordering = [expr.asc() if d == 'asc' else expr.desc() for expr, d in order]
    if match:
        uuids = []
        if limit != 0:
            cols = [I.uuid] + [_matched(c) for c in match]
            q = sa.select(*cols).where(*conditions).order_by(*ordering)
            for row in conn.execute(q.execution_options(yield_per=500)):
                if all(check(row[i + 1])
                       for i, check in enumerate(match.values())):
                    uuids.append(row[0])
                    if limit is not None and len(uuids) >= limit:
                        break
        if not uuids:
            return []
        conditions, limit = [I.uuid.in_(uuids)], None
    if limit == 0:
        return []
    q = sa.select(*(_I_COLUMNS + _LISTED_EXTRAS if detail else (I.uuid, I.name)))
    q = q.where(*conditions).order_by(*ordering)
    if limit is not None:
        q = q.limit(limit)
    if detail:
        return _detail_rows(conn, conn.execute(q))
    return [LightInstance(uuid, name) for uuid, name in conn.execute(q)]


class SystemMetadata(typing.NamedTuple):
    """A ``match`` key naming a system metadata value (``key``) instead of a
    column: the predicate gets the value, or None when the instance has none."""
    key: str


def _matched(name):
    """The expression a ``match`` key selects: a column, or a system metadata
    value."""
    if isinstance(name, SystemMetadata):
        return _system_value(name.key)
    return getattr(models.Instance, name)


class MarkerNotFound(Exception):
    """The marker of a page is not an instance the caller may list."""


class LightInstance:
    """What a list entry needs of an instance."""
    __slots__ = ('uuid', 'name')

    def __init__(self, uuid, name):
        self.uuid = uuid
        self.name = name


class Item:
    """A metadata item or a fault of a listed instance."""

    def __init__(self, **values):
        self.__dict__.update(values)


class ListedInstance:
    """An instance of a detailed list: its columns, ``metadata_items``, the system
    metadata a view shows (``LISTED_SYSTEM_METADATA``) and ``faults`` (the last one,
    when its state shows a fault), loaded with at most three queries for the whole
    page and no ORM objects: the page's rows carry their listed system metadata and
    whether they have metadata (:data:`_LISTED_EXTRAS`)."""

    def __init__(self, keys, row):
        self.__dict__.update(zip(keys, row))
        self.metadata_items = []
        self.system_metadata_items = [
            Item(key=key, value=value) for key, value in
            zip(LISTED_SYSTEM_METADATA, row[_N_COLUMNS:_N_COLUMNS + _N_SYSTEM])
            if value is not None]
        self.faults = []


# The system metadata server views read (a multi-create's reservation and index).
LISTED_SYSTEM_METADATA = system_metadata.LISTED


_I = models.Instance
_I_COLUMNS = tuple(_I.__table__.columns)
_M = models.InstanceMetadata
_S = models.InstanceSystemMetadata
_F = models.InstanceFault


# The page's metadata, built once (an "expanding" IN takes the page's uuids as one
# parameter instead of a literal each to build).
_PAGE_METADATA = sa.select(_M.instance_uuid, _M.key, _M.value).where(
    _M.instance_uuid.in_(sa.bindparam('uuids', expanding=True))).order_by(_M.id)
# Columns a detailed page's rows carry after the instance's own: each listed system
# metadata value (NULL: not set), then whether the instance has metadata. Each is an
# index lookup on (instance_uuid, key) per row of the page, in the page's own query:
# on PostgreSQL one round trip and one plan instead of a query IN (the page's 100
# uuids), planned anew each time (literals) and, at ~1000 servers, a sequential scan
# of all system metadata; the metadata query runs only for rows that have some.
_N_COLUMNS = len(_I_COLUMNS)
_N_SYSTEM = len(LISTED_SYSTEM_METADATA)


def _system_value(key):
    """The system metadata value ``key`` of the row's instance (NULL: not set), an
    index lookup on (instance_uuid, key)."""
    return sa.select(_S.value).where(_S.instance_uuid == _I.uuid,
                                     _S.key == key).scalar_subquery()


_LISTED_EXTRAS = tuple(
    _system_value(key).label('_system_%s' % key)
    for key in LISTED_SYSTEM_METADATA) + (
    sa.exists().where(_M.instance_uuid == _I.uuid).label('_has_metadata'),)


def _detail_rows(session, result):
    """ListedInstances of ``result`` (whole instance rows), with their metadata and
    the last fault of those whose status shows one."""
    keys = list(result.keys())
    page = [ListedInstance(keys, row) for row in result.all()]
    by_uuid = {i.uuid: i for i in page}
    if not page:
        return page
    with_metadata = [i.uuid for i in page if i._has_metadata]
    if with_metadata:
        for uuid, key, value in session.execute(_PAGE_METADATA,
                                                {'uuids': with_metadata}):
            by_uuid[uuid].metadata_items.append(Item(key=key, value=value))
    faulted = [i.uuid for i in page if i.vm_state in ('error', 'deleted')]
    if faulted:
        last = sa.select(sa.func.max(_F.id)).where(
            _F.instance_uuid.in_(faulted)).group_by(_F.instance_uuid)
        for f in session.execute(sa.select(_F.__table__).where(_F.id.in_(last))):
            by_uuid[f.instance_uuid].faults.append(Item(**f._mapping))
    return page


_EPOCH = datetime.datetime(1, 1, 1)
# Sort keys (Nova's names) -> the expression sorted on; nullable columns are
# coalesced so that keyset paging compares values, never NULLs.
SORT_KEYS = {
    'access_ip_v4': sa.func.coalesce(_I.access_ip_v4, ''),
    'access_ip_v6': sa.func.coalesce(_I.access_ip_v6, ''),
    'auto_disk_config': _I.disk_config,
    'availability_zone': _I.availability_zone,
    'config_drive': _I.config_drive,
    'created_at': _I.created_at,
    'display_description': sa.func.coalesce(_I.description, ''),
    'display_name': _I.name,
    'host': sa.func.coalesce(_I.host, ''),
    'hostname': _I.name,
    'image_ref': _I.image_ref,
    'key_name': sa.func.coalesce(_I.key_name, ''),
    'launched_at': sa.func.coalesce(_I.launched_at, _EPOCH),
    'node': sa.func.coalesce(_I.host, ''),
    'power_state': _I.power_state,
    'project_id': _I.project_id,
    'task_state': sa.func.coalesce(_I.task_state, ''),
    'terminated_at': sa.func.coalesce(_I.terminated_at, _EPOCH),
    'updated_at': _I.updated_at,
    'user_id': _I.user_id,
    'uuid': _I.uuid,
    'vm_state': _I.vm_state,
    'locked': _I.locked,
}


def _order(sort):
    """``[(expression, dir)]``: the requested keys, then Nova's default and the uuid
    as tie-breakers, each key once."""
    seen, order = set(), []
    for key, direction in list(sort) + [('created_at', 'desc'), ('uuid', 'desc')]:
        if key in SORT_KEYS and key not in seen:
            seen.add(key)
            order.append((SORT_KEYS[key], direction))
    return order


def _after(order, values):
    """Rows after the marker's ``values`` in ``order`` (keyset paging)."""
    alternatives = []
    for i, (expr, direction) in enumerate(order):
        equal = [order[j][0] == values[j] for j in range(i)]
        beyond = expr > values[i] if direction == 'asc' else expr < values[i]
        alternatives.append(sa.and_(*equal, beyond))
    return sa.or_(*alternatives)


def _match(column, value):
    if isinstance(value, (list, tuple, set, frozenset)):
        return column.in_(list(value))
    if value is None:
        return column.is_(None)
    return column == value


def _conditions(filters):
    conditions = []
    for key, value in filters.items():
        if key == 'deleted':
            conditions.append(_I.deleted.is_(bool(value)))
        elif key == 'flavor_id':
            conditions.append(_I.flavor['id'].as_string() == str(value))
        elif key == 'changes_since':
            conditions.append(_I.updated_at >= value)
        elif key == 'changes_before':
            conditions.append(_I.updated_at <= value)
        else:
            conditions.append(_match(getattr(_I, key), value))
    return conditions
