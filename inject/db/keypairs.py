"""Key pairs in the database: unique names per user, listed by name."""

import sqlalchemy as sa

from inject.db import models


class KeyPairs:
    """The key pair queries of :class:`inject.db.api.Database`."""

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
        with self.reading() as s:
            return s.scalars(sa.select(models.KeyPair).where(
                models.KeyPair.user_id == user_id,
                models.KeyPair.name == name)).one_or_none()

    def key_pair_list(self, user_id, limit=None, marker=None):
        """The user's key pairs by name (Nova's order), after the one named ``marker``
        and at most ``limit`` of them; None when ``marker`` is not one of them."""
        with self.reading() as s:
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
        with self.reading() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(
                models.KeyPair).where(models.KeyPair.user_id == user_id))
