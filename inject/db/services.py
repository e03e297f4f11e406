"""Services in the database (Nova's service group, database driver): an agent
registers itself and heartbeats, an administrator enables, disables, forces down or
deletes it, and inject-api lists them with what their hosts hold.

Every time these queries write or compare is the database server's clock
(:func:`now`), never the caller's: a heartbeat written by a host whose clock is off
is judged by the same clock as every other, so a skewed host is neither up forever
nor down at once."""

import uuid as uuid_mod

import sqlalchemy as sa

from inject.db import models

#: Nova's reason for a compute service registered disabled by enable_new_services.
NEW_SERVICE_DISABLED = 'New compute service disabled due to config option.'


def now(bind):
    """The database's current UTC time (whole seconds), as a SQL expression."""
    if bind.dialect.name == 'postgresql':
        return sa.func.date_trunc('second', sa.func.timezone('UTC', sa.func.now()),
                                  type_=sa.DateTime)
    return sa.func.datetime('now', type_=sa.DateTime)      # SQLite: UTC


class Services:
    """The service queries of :class:`inject.db.api.Database`."""

    def service_register(self, host, binary, capabilities, enabled=True):
        """Register ``(host, binary)`` as alive now: one heartbeat on its row, which is
        created first when there is none (disabled, with Nova's reason, unless
        ``enabled``). An administrator's disabled and forced_down stay as they are.
        Returns the row."""
        for _ in range(2):
            row = self.service_report(host, binary, capabilities)
            if row is not None:
                return row
            try:
                with self.session() as s:
                    stamp = now(s.get_bind())
                    s.execute(sa.insert(models.Service).values(
                        uuid=str(uuid_mod.uuid4()), node_uuid=str(uuid_mod.uuid4()),
                        host=host, binary=binary, report_count=0,
                        disabled=not enabled,
                        disabled_reason=None if enabled else NEW_SERVICE_DISABLED,
                        forced_down=False, capabilities=capabilities,
                        created_at=stamp, updated_at=stamp))
            except sa.exc.IntegrityError:
                pass          # another process registered it meanwhile: report on it
        return self.service_report(host, binary, capabilities)

    def service_report(self, host, binary, capabilities):
        """One heartbeat of ``(host, binary)``: ``report_count`` + 1, ``last_seen_up``
        and ``updated_at`` now, its capabilities replaced. Returns the row, or None
        when there is none (never registered, or deleted by an administrator)."""
        svc = models.Service
        with self.session() as s:
            stamp = now(s.get_bind())
            done = s.execute(sa.update(svc).where(
                svc.host == host, svc.binary == binary).values(
                    report_count=svc.report_count + 1, last_seen_up=stamp,
                    updated_at=stamp, capabilities=capabilities))
            if not done.rowcount:
                return None
            return s.scalars(sa.select(svc).where(svc.host == host,
                                                  svc.binary == binary)).one()

    def service_list(self, host=None, binary=None):
        """``(services by id, the database's time)``, only those of ``host`` and
        ``binary`` when given (exact matches)."""
        svc = models.Service
        query = sa.select(svc).order_by(svc.id)
        if host is not None:
            query = query.where(svc.host == host)
        if binary is not None:
            query = query.where(svc.binary == binary)
        with self.reading() as s:
            return list(s.scalars(query)), self._now(s)

    def service_page(self, binary, limit=None, marker=None, host_like=None):
        """``(services of ``binary`` by id after the one whose id (an int) is
        ``marker``, at most ``limit``; the database's time)``; ``host_like``: only the
        hosts whose name contains it."""
        svc = models.Service
        query = sa.select(svc).where(svc.binary == binary).order_by(svc.id)
        if marker is not None:
            query = query.where(svc.id > marker)
        if host_like is not None:
            query = query.where(svc.host.contains(host_like, autoescape=True))
        if limit is not None:
            query = query.limit(limit)
        with self.reading() as s:
            return list(s.scalars(query)), self._now(s)

    def service_get(self, **match):
        """``(the service whose columns equal ``match`` (id, uuid, node_uuid, host,
        binary), or None; the database's time)``."""
        query = sa.select(models.Service)
        for column, value in match.items():
            query = query.where(getattr(models.Service, column) == value)
        with self.reading() as s:
            return s.scalars(query).one_or_none(), self._now(s)

    def service_update(self, service_id, **values):
        """Set ``values`` (disabled, disabled_reason, forced_down) on the service and
        move its ``updated_at``; return ``(row, the database's time)``, the row None
        when it is gone."""
        svc = models.Service
        with self.session() as s:
            stamp = now(s.get_bind())
            s.execute(sa.update(svc).where(svc.id == service_id).values(
                updated_at=stamp, **values))
            return (s.scalars(sa.select(svc).where(svc.id == service_id)).one_or_none(),
                    self._now(s))

    def service_delete(self, service_id):
        """Remove the service's row; False when there was none."""
        with self.session() as s:
            return bool(s.execute(sa.delete(models.Service).where(
                models.Service.id == service_id)).rowcount)

    def host_usage(self, hosts):
        """``{host: {'running_vms', 'vcpus_used', 'memory_mb_used', 'local_gb_used',
        'current_workload'}}`` of the live servers whose ``host`` is one of ``hosts``
        (their flavors' sums; the workload counts those with a task in progress)."""
        inst = models.Instance
        query = sa.select(
            inst.host, sa.func.count(), sa.func.sum(inst.vcpus),
            sa.func.sum(inst.memory_mb), sa.func.sum(inst.flavor['disk'].as_integer()),
            sa.func.sum(sa.case((inst.task_state.is_not(None), 1), else_=0)),
        ).where(inst.host.in_(list(hosts)), inst.deleted.is_(False)).group_by(inst.host)
        with self.reading() as s:
            return {host: {'running_vms': count, 'vcpus_used': int(vcpus or 0),
                           'memory_mb_used': int(ram or 0), 'local_gb_used': int(disk or 0),
                           'current_workload': int(busy or 0)}
                    for host, count, vcpus, ram, disk, busy in s.execute(query)}

    def host_servers(self, hosts):
        """``{host: [(name, uuid)]}`` of the live servers on ``hosts``, oldest first."""
        inst = models.Instance
        query = sa.select(inst.host, inst.name, inst.uuid).where(
            inst.host.in_(list(hosts)), inst.deleted.is_(False)).order_by(
                inst.created_at, inst.uuid)
        found = {}
        with self.reading() as s:
            for host, name, uuid in s.execute(query):
                found.setdefault(host, []).append((name, uuid))
        return found

    @staticmethod
    def _now(session):
        return session.execute(sa.select(now(session.get_bind()))).scalar_one()
