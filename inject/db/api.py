"""Queries of inject-api, and the only place that writes its database. Every function
opens its own short transaction, so handlers and the background spawn threads never
share a session."""

import contextlib

import sqlalchemy as sa
from sqlalchemy import orm

from inject.db import migration
from inject.db import models


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
        if sync:
            migration.upgrade(self.engine)

    @contextlib.contextmanager
    def session(self):
        with self._sessions.begin() as session:
            yield session

    def dispose(self):
        self.engine.dispose()

    # Instances

    def instance_create(self, values, metadata, system_metadata):
        with self.session() as s:
            inst = models.Instance(**values)
            inst.metadata_items = [models.InstanceMetadata(key=k, value=v)
                                   for k, v in metadata.items()]
            inst.system_metadata_items = [models.InstanceSystemMetadata(key=k, value=v)
                                          for k, v in system_metadata.items()]
            s.add(inst)
        return self.instance_get(values['uuid'])

    def instance_get(self, uuid, project_id=None):
        """The instance, or None when it does not exist (or is deleted)."""
        with self.session() as s:
            q = sa.select(models.Instance).where(models.Instance.uuid == uuid,
                                                 models.Instance.deleted.is_(False))
            if project_id is not None:
                q = q.where(models.Instance.project_id == project_id)
            return s.scalars(q).one_or_none()

    def instance_list(self, project_id=None, limit=None, marker=None):
        with self.session() as s:
            q = sa.select(models.Instance).where(models.Instance.deleted.is_(False))
            if project_id is not None:
                q = q.where(models.Instance.project_id == project_id)
            q = q.order_by(models.Instance.created_at.desc(), models.Instance.uuid.desc())
            items = list(s.scalars(q))
        if marker is not None:
            uuids = [i.uuid for i in items]
            if marker not in uuids:
                return None
            items = items[uuids.index(marker) + 1:]
        return items[:limit] if limit is not None else items

    def instance_update(self, uuid, metadata=None, **values):
        with self.session() as s:
            inst = s.get(models.Instance, uuid)
            for k, v in values.items():
                setattr(inst, k, v)
            if metadata is not None:
                inst.metadata_items = [models.InstanceMetadata(key=k, value=v)
                                       for k, v in metadata.items()]
            inst.updated_at = models.utcnow()
        return self.instance_get(uuid)

    def instance_delete(self, uuid):
        """Mark the instance deleted (its rows stay, as Nova's soft delete)."""
        self.instance_update(uuid, vm_state='deleted', task_state=None, deleted=True,
                             terminated_at=models.utcnow())

    def instance_system_metadata_update(self, uuid, values):
        """Set the system metadata keys in ``values``, keeping the others; nothing
        when the instance is gone."""
        with self.session() as s:
            inst = s.get(models.Instance, uuid)
            if inst is None:
                return
            have = {m.key: m for m in inst.system_metadata_items}
            for k, v in values.items():
                if k in have:
                    have[k].value = v
                else:
                    inst.system_metadata_items.append(
                        models.InstanceSystemMetadata(key=k, value=v))

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
        """(instances, cores, ram) used by the project's live instances."""
        with self.session() as s:
            rows = s.scalars(sa.select(models.Instance).where(
                models.Instance.project_id == project_id,
                models.Instance.deleted.is_(False))).all()
            return (len(rows), sum(r.flavor['vcpus'] for r in rows),
                    sum(r.flavor['ram'] for r in rows))

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
            row = s.get(models.InstanceAction, action_id)
            row.finish_time = models.utcnow()
            row.message = message[:255] if message else None

    def action_list(self, uuid):
        with self.session() as s:
            return list(s.scalars(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == uuid).order_by(
                    models.InstanceAction.id)))

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
    cursor.close()
