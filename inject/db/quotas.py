"""Quotas in the database: the limits set for projects and quota classes, and a
project's usage counted in SQL."""

import sqlalchemy as sa

from inject.db import models


class Quotas:
    """The quota queries of :class:`inject.db.api.Database`."""

    def quota_get(self, project_id):
        """``{resource: limit}`` set for the project."""
        return _limits(self, models.Quota, 'project_id', project_id)

    def quota_state(self, project_id, class_name='default', usage=True):
        """``(class limits, project limits, usage or None)``, read together on one
        connection (on PostgreSQL in autocommit: each statement sees what was
        committed when it ran; a create's quota decision is made apart, under the
        project's lock): the ``{resource: limit}`` rows of the quota class and of the
        project, and the project's ``(instances, cores, ram)`` counted in SQL."""
        with self.reading_connection() as s:
            classes = dict(s.execute(_CLASS_LIMITS, {'class_name': class_name}).all())
            project = dict(s.execute(_PROJECT_LIMITS, {'project_id': project_id}).all())
            return classes, project, usage_of(s, project_id) if usage else None

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

    def instance_usage(self, project_id):
        """(instances, cores, ram) used by the project's live instances, counted in
        SQL."""
        with self.reading_connection() as s:
            return usage_of(s, project_id)


def usage_of(conn, project_id):
    """(instances, cores, ram) of the project's live instances, in one query on
    ``conn`` (a connection or a session)."""
    row = conn.execute(_USAGE, {'project_id': project_id}).one()
    return int(row[0]), int(row[1]), int(row[2])


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


def _limits(db, model, owner_column, owner):
    """The one quota getter: ``{resource: hard_limit}`` of ``owner``'s rows."""
    with db.reading() as s:
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
