"""Queries of inject-api, and the only place that writes its database. Every function
opens its own short transaction, so handlers and the background spawn threads never
share a session."""

import contextlib
import threading

import sqlalchemy as sa
from sqlalchemy import orm

from inject.db import listing
from inject.db import migration
from inject.db import models


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


class Database:
    """One engine and its session factory, for the URL in ``[database]connection``."""

    def __init__(self, url, sync=True):
        kwargs = {}
        if url.startswith('sqlite'):
            kwargs['connect_args'] = {'check_same_thread': False, 'timeout': 30}
        else:
            kwargs['pool_pre_ping'] = True
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith('sqlite'):
            sa.event.listen(self.engine, 'connect', _sqlite_pragmas)
        self._sessions = orm.sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one write lock, and threads waiting for it in its busy handler
        # sleep (1 ms, then up to 100 ms a try): under load some waited seconds while
        # others took it. The sessions of this process take turns on a lock of its
        # own instead; only other processes (inject-api's workers, inject-metadata)
        # meet the busy handler.
        self._turns = (threading.RLock() if url.startswith('sqlite')
                       else contextlib.nullcontext())
        if sync:
            migration.upgrade(self.engine)

    @contextlib.contextmanager
    def session(self):
        with self._turns, self._sessions.begin() as session:
            yield session

    def dispose(self):
        self.engine.dispose()

    # Instances

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
            instances, cores, ram = _usage(s, project_id)
            count = quota_check({'instances': instances, 'cores': cores, 'ram': ram})
            insts = [_new_instance(*row) for row in rows_for(count)]
            s.add_all(insts)
        return insts

    @contextlib.contextmanager
    def project_locked(self, project_id):
        """A session whose transaction holds the project's lock until it commits
        (on leaving the block; an exception rolls back)."""
        with self._turns, self.engine.connect() as conn:
            dialect = self.engine.dialect.name
            if dialect == 'sqlite':
                conn.exec_driver_sql('BEGIN IMMEDIATE')
            elif dialect == 'postgresql':
                conn.execute(sa.text('SELECT pg_advisory_xact_lock(hashtext(:p))'),
                             {'p': 'inject-project:%s' % project_id})
            session = orm.Session(bind=conn, expire_on_commit=False)
            try:
                yield session
                session.flush()
                conn.commit()
            finally:
                session.close()

    def instance_get(self, uuid, project_id=None):
        """The instance, or None when it does not exist (or is deleted)."""
        with self.session() as s:
            q = sa.select(models.Instance).where(models.Instance.uuid == uuid,
                                                 models.Instance.deleted.is_(False))
            if project_id is not None:
                q = q.where(models.Instance.project_id == project_id)
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
        ``match``: column -> predicate on its value that must hold (regular
        expressions, which run in Python with RE2: only that column is selected, rows
        stream in order and the page stops as soon as it is full). ``marker``: uuid
        of the last instance of the previous page (any instance the filters' project
        may see, deleted included), else :class:`inject.db.listing.MarkerNotFound`.
        ``detail``: full rows with metadata and faults (the page only); otherwise
        light rows with ``uuid`` and ``name``.
        """
        with self.engine.connect() as s:     # reads only: Core rows, no ORM session
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
            _system_metadata_set(s, uuid, values)

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

    def instance_usage(self, project_id):
        """(instances, cores, ram) used by the project's live instances, counted in
        SQL."""
        with self.engine.connect() as s:
            return _usage(s, project_id)

    def fault_add(self, uuid, code, message, details=None):
        with self.session() as s:
            s.add(models.InstanceFault(instance_uuid=uuid, code=code,
                                       message=message[:255], details=details))

    # Actions

    def action_start(self, uuid, action, context):
        with self.session() as s:
            row = models.InstanceAction(instance_uuid=uuid, action=action,
                                        request_id=context.request_id,
                                        user_id=context.user_id,
                                        project_id=context.project_id)
            s.add(row)
            s.flush()
            return row.id

    def action_finish(self, action_id, message=None):
        with self.session() as s:
            _action_finish(s, action_id, message)

    def action_list(self, uuid):
        with self.session() as s:
            return list(s.scalars(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == uuid).order_by(
                    models.InstanceAction.id)))

    # Builds: the spawn flow's few, light transactions (no ORM instance loads)

    def instance_alive(self, uuid):
        """Whether the instance exists and is not deleted."""
        with self.engine.connect() as c:
            return c.execute(_ALIVE, {'uuid': uuid}).first() is not None

    def build_begin(self, uuid, files, system_metadata=None):
        """The start of a build, in one transaction: the server's personality files
        become ``[(path, bytes)]`` (in order; kept for the metadata service), its stored
        dynamic vendordata answers are forgotten, the system metadata keys in
        ``system_metadata`` are set, and ``(project_id, config_drive)`` of the instance
        is returned; None, changing nothing, when it is gone or deleted."""
        inst, f = models.Instance, models.InstanceFile
        with self.session() as s:
            row = s.execute(sa.select(inst.project_id, inst.config_drive).where(
                inst.uuid == uuid, inst.deleted.is_(False))).first()
            if row is None:
                return None
            s.execute(sa.delete(f).where(f.instance_uuid == uuid))
            if files:
                s.execute(sa.insert(f), [
                    {'instance_uuid': uuid, 'position': position, 'path': path,
                     'contents': bytes(contents)}
                    for position, (path, contents) in enumerate(files)])
            s.execute(sa.delete(models.VendordataAnswer).where(
                models.VendordataAnswer.instance_uuid == uuid))
            if system_metadata:
                _system_metadata_set(s, uuid, system_metadata)
            return row[0], row[1]

    def instances_built_by(self, builder):
        """Uuids of the live instances in a build (building, or with a task) whose
        system metadata ``builder`` is ``builder``."""
        inst, sm = models.Instance, models.InstanceSystemMetadata
        with self.engine.connect() as c:
            return [row[0] for row in c.execute(
                sa.select(inst.uuid).join(sm, sm.instance_uuid == inst.uuid).where(
                    sm.key == 'builder', sm.value == builder, inst.deleted.is_(False),
                    sa.or_(inst.vm_state == 'building', inst.task_state.is_not(None))))]

    def build_finish(self, uuid, values, system_metadata, action_id=None,
                     action_message=None):
        """The end of a build, in one transaction: set the instance's columns
        ``values`` (and ``updated_at``) and its system metadata keys, and finish the
        instance action ``action_id`` (if any) with ``action_message``; False,
        changing nothing, when the instance is gone or deleted."""
        inst = models.Instance
        with self.session() as s:
            done = s.execute(sa.update(inst).where(
                inst.uuid == uuid, inst.deleted.is_(False)).values(
                    updated_at=models.utcnow(), **values))
            if not done.rowcount:
                return False
            _system_metadata_set(s, uuid, system_metadata)
            if action_id is not None:
                _action_finish(s, action_id, action_message)
            return True

    def instances_create_started(self, project_id, quota_check, rows_for, action,
                                 context):
        """:meth:`instances_create` and, in the same transaction, the instance action
        ``action`` started by ``context`` on each; ``(instances, action ids)``."""
        with self.project_locked(project_id) as s:
            instances, cores, ram = _usage(s, project_id)
            count = quota_check({'instances': instances, 'cores': cores, 'ram': ram})
            insts = [_new_instance(*row) for row in rows_for(count)]
            s.add_all(insts)
            s.flush()
            actions = [models.InstanceAction(
                instance_uuid=i.uuid, action=action, request_id=context.request_id,
                user_id=context.user_id, project_id=context.project_id) for i in insts]
            s.add_all(actions)
            s.flush()
            return insts, [a.id for a in actions]

    # Key pairs

    def key_pair_create(self, user_id, name, public_key, fingerprint, key_type='ssh'):
        """Add a key pair; None when the user already has one of that name."""
        try:
            with self.session() as s:
                row = models.KeyPair(user_id=user_id, name=name, type=key_type,
                                     public_key=public_key, fingerprint=fingerprint)
                s.add(row)
                s.flush()
        except sa.exc.IntegrityError:
            return None
        return row

    def key_pair_get(self, user_id, name):
        """The user's key pair called ``name``, or None."""
        with self.session() as s:
            return s.scalars(sa.select(models.KeyPair).where(
                models.KeyPair.user_id == user_id,
                models.KeyPair.name == name)).one_or_none()

    def key_pair_list(self, user_id, limit=None, marker=None):
        """The user's key pairs by name (Nova's order), after the one named ``marker``
        and at most ``limit`` of them; None when ``marker`` is not one of them."""
        with self.session() as s:
            q = sa.select(models.KeyPair).where(models.KeyPair.user_id == user_id)
            if marker is not None:
                if s.scalars(q.where(models.KeyPair.name == marker)).first() is None:
                    return None
                q = q.where(models.KeyPair.name > marker)
            q = q.order_by(models.KeyPair.name)
            if limit is not None:
                q = q.limit(limit)
            return list(s.scalars(q))

    def key_pair_delete(self, user_id, name):
        """Remove the user's key pair; False when there was none of that name."""
        with self.session() as s:
            result = s.execute(sa.delete(models.KeyPair).where(
                models.KeyPair.user_id == user_id, models.KeyPair.name == name))
            return result.rowcount > 0

    def key_pair_count(self, user_id):
        with self.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(
                models.KeyPair).where(models.KeyPair.user_id == user_id))

    # Personality files kept with a server

    def instance_files_set(self, uuid, files):
        """Replace the server's personality files by ``[(path, bytes)]`` (in order);
        nothing when the instance is gone."""
        with self.session() as s:
            if s.get(models.Instance, uuid) is None:
                return
            s.execute(sa.delete(models.InstanceFile).where(
                models.InstanceFile.instance_uuid == uuid))
            for position, (path, contents) in enumerate(files):
                s.add(models.InstanceFile(instance_uuid=uuid, position=position,
                                          path=path, contents=bytes(contents)))

    def instance_files_get(self, uuid):
        """``[(path, bytes)]``: the server's personality files, in the order given."""
        with self.session() as s:
            return [(f.path, bytes(f.contents)) for f in s.scalars(
                sa.select(models.InstanceFile).where(
                    models.InstanceFile.instance_uuid == uuid).order_by(
                        models.InstanceFile.position))]

    # Dynamic vendordata answers shared between inject-api and inject-metadata

    def vendordata_answer_get(self, uuid, key, now=None):
        """``(answer text, expires_at)`` of ``key`` while it has not expired, else
        None."""
        now = now or models.utcnow()
        with self.session() as s:
            row = s.get(models.VendordataAnswer, (uuid, key))
            if row is None or row.expires_at <= now:
                return None
            return row.answer, row.expires_at

    def vendordata_answer_put(self, uuid, key, target, answer, expires_at):
        """Keep ``answer`` (JSON text) of ``key`` until ``expires_at`` (naive UTC);
        False when the instance is gone."""
        with self.session() as s:
            if s.get(models.Instance, uuid) is None:
                return False
            row = s.get(models.VendordataAnswer, (uuid, key))
            if row is None:
                s.add(models.VendordataAnswer(instance_uuid=uuid, key=key, target=target,
                                              answer=answer, expires_at=expires_at))
            else:
                row.target, row.answer, row.expires_at = target, answer, expires_at
            return True

    def vendordata_answers_delete(self, uuid, key=None):
        """Forget the stored answers of a server (or the one of ``key``)."""
        with self.session() as s:
            q = sa.delete(models.VendordataAnswer).where(
                models.VendordataAnswer.instance_uuid == uuid)
            if key is not None:
                q = q.where(models.VendordataAnswer.key == key)
            s.execute(q)

    # Quotas

    def quota_get(self, project_id):
        """``{resource: limit}`` set for the project."""
        return _limits(self, models.Quota, 'project_id', project_id)

    def quota_state(self, project_id, class_name='default', usage=True):
        """``(class limits, project limits, usage or None)`` read in one transaction:
        the ``{resource: limit}`` rows of the quota class and of the project, and
        the project's ``(instances, cores, ram)`` counted in SQL."""
        with self.engine.connect() as s:
            classes = dict(s.execute(_CLASS_LIMITS, {'class_name': class_name}).all())
            project = dict(s.execute(_PROJECT_LIMITS, {'project_id': project_id}).all())
            return classes, project, _usage(s, project_id) if usage else None

    def quota_set(self, project_id, limits):
        _upsert(self, models.Quota, 'project_id', project_id, limits)

    def quota_destroy(self, project_id):
        with self.session() as s:
            s.execute(sa.delete(models.Quota).where(models.Quota.project_id == project_id))

    def quota_class_get(self, class_name):
        """``{resource: limit}`` set for the quota class."""
        return _limits(self, models.QuotaClass, 'class_name', class_name)

    def quota_class_set(self, class_name, limits):
        _upsert(self, models.QuotaClass, 'class_name', class_name, limits)


# Statements of the hottest reads (every /limits and create), built once: building a
# statement costs more than running it on SQLite.
_USAGE = sa.select(
    sa.func.count(),
    sa.func.coalesce(sa.func.sum(models.Instance.vcpus), 0),
    sa.func.coalesce(sa.func.sum(models.Instance.memory_mb), 0)).where(
        models.Instance.project_id == sa.bindparam('project_id'),
        models.Instance.deleted.is_(False))
_CLASS_LIMITS = sa.select(models.QuotaClass.resource, models.QuotaClass.hard_limit).where(
    models.QuotaClass.class_name == sa.bindparam('class_name'))
_PROJECT_LIMITS = sa.select(models.Quota.resource, models.Quota.hard_limit).where(
    models.Quota.project_id == sa.bindparam('project_id'))


_ALIVE = sa.select(models.Instance.uuid).where(
    models.Instance.uuid == sa.bindparam('uuid'), models.Instance.deleted.is_(False))


def _action_finish(session, action_id, message):
    session.execute(sa.update(models.InstanceAction).where(
        models.InstanceAction.id == action_id).values(
            finish_time=models.utcnow(), message=message[:255] if message else None))


def _system_metadata_set(session, uuid, values):
    """Set the instance's system metadata keys in ``values``, keeping the others."""
    sm = models.InstanceSystemMetadata
    have = set(session.scalars(sa.select(sm.key).where(sm.instance_uuid == uuid,
                                                       sm.key.in_(list(values)))))
    for k, v in values.items():
        if k in have:
            session.execute(sa.update(sm).where(sm.instance_uuid == uuid,
                                                sm.key == k).values(value=v))
        else:
            session.execute(sa.insert(sm).values(instance_uuid=uuid, key=k, value=v))


def _usage(session, project_id):
    """(instances, cores, ram) of the project's live instances, in one query."""
    row = session.execute(_USAGE, {'project_id': project_id}).one()
    return int(row[0]), int(row[1]), int(row[2])


def _limits(db, model, owner_column, owner):
    """The one quota getter: ``{resource: hard_limit}`` of ``owner``'s rows."""
    with db.session() as s:
        return {q.resource: q.hard_limit for q in s.scalars(sa.select(model).where(
            getattr(model, owner_column) == owner))}


def _upsert(db, model, owner_column, owner, limits):
    with db.session() as s:
        owner_attr = getattr(model, owner_column)
        rows = {r.resource: r for r in s.scalars(sa.select(model).where(
            owner_attr == owner))}
        for resource, limit in limits.items():
            if resource in rows:
                rows[resource].hard_limit = limit
            else:
                s.add(model(**{owner_column: owner, 'resource': resource,
                               'hard_limit': limit}))


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA journal_mode=WAL')
    # In WAL mode NORMAL keeps the database consistent; a power loss may lose the
    # last transactions, not corrupt (the fsync per commit is what it saves).
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()
