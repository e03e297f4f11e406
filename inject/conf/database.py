"""Where inject-api keeps servers, quotas, actions and faults."""

from oslo_config import cfg

from inject.conf import base

database_group = cfg.OptGroup(
    'database',
    title='Database options',
    help='The database of inject-api: SQLite under $state_path by default, or '
         'PostgreSQL through a SQLAlchemy URL.')

database_opts = [
    cfg.StrOpt('connection',
               default='sqlite:///$state_path/inject-api.sqlite',
               secret=True,
               help='SQLAlchemy URL, e.g. '
                    'postgresql+psycopg2://inject:PASSWORD@127.0.0.1/inject. '
                    'The SQLite default needs no server.'),
    cfg.BoolOpt('sync_on_start',
                default=True,
                help='Apply the alembic migrations when inject-api starts. Turn it off '
                     'to run "inject-api --db-sync" yourself before upgrades.'),
]


def register_opts(conf):
    base.register(conf, database_group, database_opts)


def list_opts():
    return {database_group: database_opts}
