"""Builds in the database: the spawn flow's few, light transactions (no ORM instance
loads), the instance actions that record them and the faults they leave."""

import sqlalchemy as sa

from inject.db import instances
from inject.db import models
from inject.db import served
# (build_begin and build_finish take a ``system_metadata`` dict)
from inject.db import system_metadata as system_keys


class Builds:
    """The build, action and fault queries of :class:`inject.db.api.Database`."""

    def instance_alive(self, uuid):
        """Whether the instance exists and is not deleted."""
        with self.reading_connection() as c:
            return c.execute(_ALIVE, {'uuid': uuid}).first() is not None

    def build_begin(self, uuid, files, system_metadata=None):
        """The start of a build, in one transaction: the server's personality files
        become ``[(path, bytes)]`` (in order; kept for the metadata service), its stored
        dynamic vendordata answers are forgotten, the system metadata keys in
        ``system_metadata`` are set, and ``(project_id, config_drive)`` of the instance
        is returned; None, changing nothing, when it is gone or deleted."""
        inst = models.Instance
        with self.session() as s:
            row = s.execute(sa.select(inst.project_id, inst.config_drive).where(
                inst.uuid == uuid, inst.deleted.is_(False))).first()
            if row is None:
                return None
            served.files_put(s, uuid, files)
            s.execute(sa.delete(models.VendordataAnswer).where(
                models.VendordataAnswer.instance_uuid == uuid))
            if system_metadata:
                instances.system_metadata_set(s, uuid, system_metadata)
            return row[0], row[1]

    def instances_built_by(self, builder):
        """Uuids of the live instances in a build (building, or with a task) whose
        system metadata ``BUILDER`` is ``builder``."""
        inst, sm = models.Instance, models.InstanceSystemMetadata
        with self.reading_connection() as c:
            return [row[0] for row in c.execute(
                sa.select(inst.uuid).join(sm, sm.instance_uuid == inst.uuid).where(
                    sm.key == system_keys.BUILDER, sm.value == builder,
                    inst.deleted.is_(False),
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
            instances.system_metadata_set(s, uuid, system_metadata)
            if action_id is not None:
                _action_finish(s, action_id, action_message)
            return True

    def build_fail(self, uuid, code, message, details=None, system_metadata=None,
                   action_id=None):
        """A failed build, in one transaction (none of it, or all of it): the
        instance goes to ``error`` with no task, gets the fault, the system metadata
        keys in ``system_metadata`` and the instance action ``action_id`` (if any)
        finishes with ``Error``; False, changing nothing, when the instance is gone or
        deleted."""
        inst = models.Instance
        with self.session() as s:
            done = s.execute(sa.update(inst).where(
                inst.uuid == uuid, inst.deleted.is_(False)).values(
                    vm_state='error', task_state=None, updated_at=models.utcnow()))
            if not done.rowcount:
                return False
            s.add(models.InstanceFault(instance_uuid=uuid, code=code,
                                       message=message[:255], details=details))
            if system_metadata:
                instances.system_metadata_set(s, uuid, system_metadata)
            if action_id is not None:
                _action_finish(s, action_id, 'Error')
            return True

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
        with self.reading() as s:
            return list(s.scalars(sa.select(models.InstanceAction).where(
                models.InstanceAction.instance_uuid == uuid).order_by(
                    models.InstanceAction.id)))


_ALIVE = sa.select(models.Instance.uuid).where(
    models.Instance.uuid == sa.bindparam('uuid'), models.Instance.deleted.is_(False))


def _action_finish(session, action_id, message):
    session.execute(sa.update(models.InstanceAction).where(
        models.InstanceAction.id == action_id).values(
            finish_time=models.utcnow(), message=message[:255] if message else None))
