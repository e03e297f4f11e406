"""The database of inject-api: models, queries, and alembic migrations."""
