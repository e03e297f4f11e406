"""What the metadata service serves of a server and inject-api keeps in the database:
its personality files, and the dynamic vendordata answers shared between inject-api
and inject-metadata."""

import sqlalchemy as sa

from inject.db import models


class Served:
    """The personality file and vendordata answer queries of
    :class:`inject.db.api.Database`."""

    # Personality files kept with a server

    def instance_files_set(self, uuid, files):
        """Replace the server's personality files by ``[(path, bytes)]`` (in order);
        nothing when the instance is gone."""
        with self.session() as s:
            if s.get(models.Instance, uuid) is None:
                return
            files_put(s, uuid, files)

    def instance_files_get(self, uuid):
        """``[(path, bytes)]``: the server's personality files, in the order given."""
        with self.reading() as s:
            return [(f.path, bytes(f.contents)) for f in s.scalars(
                sa.select(models.InstanceFile).where(
                    models.InstanceFile.instance_uuid == uuid).order_by(
                        models.InstanceFile.position))]

    # Dynamic vendordata answers

    def vendordata_answer_get(self, uuid, key, now=None):
        """``(answer text, expires_at)`` of ``key`` while it has not expired, else
        None."""
        now = now or models.utcnow()
        with self.reading() as s:
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


def files_put(session, uuid, files, replace=True):
    """Keep ``[(path, bytes)]`` as the server's personality files, in order, in the
    caller's transaction (``replace``: instead of those it had)."""
    f = models.InstanceFile
    if replace:
        session.execute(sa.delete(f).where(f.instance_uuid == uuid))
    if files:
        session.execute(sa.insert(f), [
            {'instance_uuid': uuid, 'position': position, 'path': path,
             'contents': bytes(contents)}
            for position, (path, contents) in enumerate(files)])
