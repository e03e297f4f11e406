"""alembic environment: the connection is always handed in by inject.db.migration."""

from alembic import context

from inject.db import models

connection = context.config.attributes['connection']
context.configure(connection=connection, target_metadata=models.Base.metadata,
                  render_as_batch=connection.dialect.name == 'sqlite')
with context.begin_transaction():
    context.run_migrations()
