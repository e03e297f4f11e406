"""Instances in the database: created under the project's quota decision, read,
paged (through :mod:`inject.db.listing`), updated, soft-deleted, and their metadata
and system metadata."""

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from inject.db import listing
from inject.db import models
from inject.db import quotas
from inject.db import served


class Instances:
    """The instance queries of :class:`inject.db.api.Database`."""

    def instance_create(self, values, metadata, system_metadata, quota_check=None):
        """Insert the instance and return it. With ``quota_check``, counting the
        project's usage and inserting are one decision (see :meth:`instances_create`):
        ``quota_check(usage)`` may raise to refuse, ``usage`` being ``{'instances',
        'cores', 'ram'}`` before this one."""
        if quota_check is None:
            with self.session() as s:
                inst = _new_instance(values, metadata, system_metadata)
                s.add(inst)
            return inst

        def one(usage):
            quota_check(usage)
            return 1
        return self.instances_create(values['project_id'], one,
                                     lambda count: [(values, metadata, system_metadata)])[0]

    def instances_create(self, project_id, quota_check, rows_for):
        """Insert the instances a quota decision allows; return them in order.

        Counting the project's usage and inserting are one decision: the project is
        locked for the transaction (PostgreSQL: an advisory lock on the project;
        SQLite: BEGIN IMMEDIATE, the database's write lock). ``quota_check(usage)``
        returns how many to create (or raises to refuse); ``rows_for(count)`` gives
        their ``(values, metadata, system_metadata)``.
        """
        with self.project_locked(project_id) as s:
            return _insert_decided(s, project_id, quota_check, rows_for)

    def instances_create_started(self, project_id, quota_check, rows_for, action,
                                 context, files=()):
        """:meth:`instances_create` and, in the same transaction, the instance action
        ``action`` started by ``context`` on each and ``files``, ``[(path, bytes)]``,
        kept with each as its personality files (what :meth:`build_begin` would keep:
        the build of a new server need not write again); ``(instances, action
        ids)``."""
        with self.project_locked(project_id) as s:
            insts = _insert_decided(s, project_id, quota_check, rows_for)
            s.flush()
            for inst in insts:
                served.files_put(s, inst.uuid, files, replace=False)
            actions = [models.InstanceAction(
                instance_uuid=i.uuid, action=action, request_id=context.request_id,
                user_id=context.user_id, project_id=context.project_id) for i in insts]
            s.add_all(actions)
            s.flush()
            return insts, [a.id for a in actions]

    def instance_get(self, uuid, project_id=None, files=False):
        """The instance, or None when it does not exist (or is deleted); with
        ``files``, its personality files loaded too (``instance.files``, in order):
        everything the metadata of a server is made of, in one object."""
        with self.reading() as s:
            q = sa.select(models.Instance).where(models.Instance.uuid == uuid,
                                                 models.Instance.deleted.is_(False))
            if project_id is not None:
                q = q.where(models.Instance.project_id == project_id)
            if files:
                q = q.options(orm.selectinload(models.Instance.files))
            return s.scalars(q).one_or_none()

    def instance_list(self, project_id=None, limit=None, marker=None):
        """Live instances, newest first, paged in SQL; None when ``marker`` is not
        one of them."""
        filters = {'deleted': False}
        if project_id is not None:
            filters['project_id'] = project_id
        try:
            return self.instance_page(filters, limit=limit, marker=marker, detail=True)
        except listing.MarkerNotFound:
            return None

    def instance_page(self, filters, limit=None, marker=None, sort=(), match=None,
                      detail=False):
        """One page of instances, filtered, sorted and paged in SQL.

        ``filters``: column -> value (a list or tuple means "one of"; None means IS
        NULL); ``'deleted'`` True/False (absent: both); ``'flavor_id'`` the flavor's id;
        ``'changes_since'``/``'changes_before'`` bounds on ``updated_at``.
        ``sort``: ``[(key, 'asc'|'desc')]`` over :data:`inject.db.listing.SORT_KEYS`, then
        ``created_at desc`` and ``uuid desc`` as Nova's default and tie-breakers.
        ``match``: column (or :class:`inject.db.listing.SystemMetadata`: a system
        metadata value) -> predicate on its value that must hold (regular
        expressions, which run in Python with RE2: only that column is selected, rows
        stream in order and the page stops as soon as it is full). ``marker``: uuid
        of the last instance of the previous page (any instance the filters' project
        may see, deleted included), else :class:`inject.db.listing.MarkerNotFound`.
        ``detail``: full rows with metadata and faults (the page only); otherwise
        light rows with ``uuid`` and ``name``.
        """
        # Reads only: Core rows, no ORM session; matched rows stream through a
        # server-side cursor, which PostgreSQL keeps in a transaction only.
        with (self.engine if match else self.reader).connect() as s:
            return listing.page(s, filters, limit, marker, sort, match, detail)

    def instance_update(self, uuid, metadata=None, **values):
        with self.session() as s:
            inst = s.get(models.Instance, uuid)
            for k, v in values.items():
                setattr(inst, k, v)
            if metadata is not None:
                inst.metadata_items = [models.InstanceMetadata(key=k, value=v)
                                       for k, v in metadata.items()]
            inst.updated_at = models.utcnow()
            s.flush()
            return None if inst.deleted else inst

    def instance_delete(self, uuid):
        """Mark the instance deleted (its rows stay, as Nova's soft delete)."""
        self.instance_update(uuid, vm_state='deleted', task_state=None, deleted=True,
                             terminated_at=models.utcnow())

    def instance_system_metadata_update(self, uuid, values):
        """Set the system metadata keys in ``values``, keeping the others; nothing
        when the instance is gone."""
        with self.session() as s:
            if s.execute(sa.select(models.Instance.uuid).where(
                    models.Instance.uuid == uuid)).first() is None:
                return
            system_metadata_set(s, uuid, values)

    def instance_system_metadata_replace(self, uuid, prefix, values):
        """Drop the instance's system metadata keys starting with ``prefix`` and set
        ``values``, in one transaction; nothing when the instance is gone."""
        sm = models.InstanceSystemMetadata
        with self.session() as s:
            if s.execute(sa.select(models.Instance.uuid).where(
                    models.Instance.uuid == uuid)).first() is None:
                return
            s.execute(sa.delete(sm).where(
                sm.instance_uuid == uuid,
                sm.key.startswith(prefix, autoescape=True)))
            system_metadata_set(s, uuid, values)

    def instance_metadata_update(self, uuid, values, replace=False):
        """Set the metadata keys in ``values`` (``replace``: and drop every other key)
        in one transaction; return the instance's metadata after it, or None when the
        instance is gone."""
        with self.session() as s:
            inst = s.get(models.Instance, uuid)
            if inst is None or inst.deleted:
                return None
            have = {m.key: m for m in inst.metadata_items}
            if replace:
                inst.metadata_items = [m for k, m in have.items() if k in values]
            for k, v in values.items():
                if k in have:
                    have[k].value = v
                else:
                    inst.metadata_items.append(models.InstanceMetadata(key=k, value=v))
            inst.updated_at = models.utcnow()
            s.flush()
            return {m.key: m.value for m in inst.metadata_items}

    def instance_metadata_delete(self, uuid, key):
        """Remove one metadata key; False when the instance or the key is not there."""
        with self.session() as s:
            inst = s.get(models.Instance, uuid)
            if inst is None or inst.deleted:
                return False
            kept = [m for m in inst.metadata_items if m.key != key]
            if len(kept) == len(inst.metadata_items):
                return False
            inst.metadata_items = kept
            inst.updated_at = models.utcnow()
            return True


def system_metadata_set(session, uuid, values):
    """Set the instance's system metadata keys in ``values``, keeping the others: on
    SQLite and PostgreSQL in one statement (an upsert on the unique ``(instance_uuid,
    key)``), which shortens a build's write transaction."""
    if not values:
        return
    sm = models.InstanceSystemMetadata
    insert = _UPSERTS.get(session.get_bind().dialect.name)
    if insert is not None:
        stmt = insert(sm).values([{'instance_uuid': uuid, 'key': k, 'value': v}
                                  for k, v in values.items()])
        session.execute(stmt.on_conflict_do_update(
            index_elements=[sm.instance_uuid, sm.key],
            set_={'value': stmt.excluded.value}))
        return
    have = set(session.scalars(sa.select(sm.key).where(sm.instance_uuid == uuid,
                                                       sm.key.in_(list(values)))))
    for k, v in values.items():
        if k in have:
            session.execute(sa.update(sm).where(sm.instance_uuid == uuid,
                                                sm.key == k).values(value=v))
        else:
            session.execute(sa.insert(sm).values(instance_uuid=uuid, key=k, value=v))


_UPSERTS = {'sqlite': sqlite.insert, 'postgresql': postgresql.insert}


def _insert_decided(session, project_id, quota_check, rows_for):
    """Count the project's usage, let ``quota_check`` decide how many to create and
    add the instances ``rows_for`` gives, in the caller's locked transaction."""
    instances, cores, ram = quotas.usage_of(session, project_id)
    count = quota_check({'instances': instances, 'cores': cores, 'ram': ram})
    insts = [_new_instance(*row) for row in rows_for(count)]
    session.add_all(insts)
    return insts


def _new_instance(values, metadata, system_metadata):
    values = dict(values)
    values.setdefault('vcpus', values['flavor']['vcpus'])
    values.setdefault('memory_mb', values['flavor']['ram'])
    inst = models.Instance(**values)
    inst.metadata_items = [models.InstanceMetadata(key=k, value=v)
                           for k, v in metadata.items()]
    inst.system_metadata_items = [models.InstanceSystemMetadata(key=k, value=v)
                                  for k, v in system_metadata.items()]
    inst.faults = []
    return inst
