"""Tables of inject-api. Change them only together with a new migration."""

import datetime

import sqlalchemy as sa
from sqlalchemy import orm


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


class Base(orm.DeclarativeBase):
    pass


class Instance(Base):
    __tablename__ = 'instances'
    # A project's live servers in list order: lists page through it; and their
    # usage, which quota checks sum from the index alone.
    __table_args__ = (sa.Index('ix_instances_project_list', 'project_id', 'deleted',
                               'created_at', 'uuid'),
                      sa.Index('ix_instances_project_usage', 'project_id', 'deleted',
                               'vcpus', 'memory_mb'))
    uuid = sa.Column(sa.String(36), primary_key=True)
    project_id = sa.Column(sa.String(255), nullable=False, index=True)
    user_id = sa.Column(sa.String(255), nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    description = sa.Column(sa.Text)
    vm_state = sa.Column(sa.String(32), nullable=False)
    task_state = sa.Column(sa.String(32))
    power_state = sa.Column(sa.Integer, nullable=False, default=0)
    image_ref = sa.Column(sa.String(255), nullable=False)
    flavor = sa.Column(sa.JSON, nullable=False)
    # The flavor's vcpus and ram (MiB), copied out of it for quota usage.
    vcpus = sa.Column(sa.Integer, nullable=False, server_default='0')
    memory_mb = sa.Column(sa.Integer, nullable=False, server_default='0')
    user_data = sa.Column(sa.Text)
    key_name = sa.Column(sa.String(255))
    # The key pair's public key and type as they were at create or rebuild (Nova's
    # instance key_data and keypairs): the guest keeps it if the key pair is deleted.
    key_data = sa.Column(sa.Text)
    key_type = sa.Column(sa.String(4))
    access_ip_v4 = sa.Column(sa.String(39))
    access_ip_v6 = sa.Column(sa.String(39))
    disk_config = sa.Column(sa.String(16), nullable=False, default='MANUAL')
    availability_zone = sa.Column(sa.String(255), nullable=False, default='nova')
    config_drive = sa.Column(sa.String(16), nullable=False, default='')
    tags = sa.Column(sa.JSON, nullable=False, default=list)
    locked = sa.Column(sa.Boolean, nullable=False, default=False)
    host = sa.Column(sa.String(255))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    launched_at = sa.Column(sa.DateTime)
    terminated_at = sa.Column(sa.DateTime)
    deleted = sa.Column(sa.Boolean, nullable=False, default=False, index=True)

    metadata_items = orm.relationship('InstanceMetadata', cascade='all, delete-orphan',
                                      lazy='selectin')
    system_metadata_items = orm.relationship('InstanceSystemMetadata',
                                             cascade='all, delete-orphan', lazy='selectin')
    faults = orm.relationship('InstanceFault', cascade='all, delete-orphan',
                              lazy='selectin', order_by='InstanceFault.id')
    # The personality files, read only when asked for (the metadata a server is
    # served: Database.instance_get(..., files=True)); written by inject.db.served.
    files = orm.relationship('InstanceFile', viewonly=True, lazy='raise',
                             order_by='InstanceFile.position')


class InstanceMetadata(Base):
    __tablename__ = 'instance_metadata'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'key'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid = sa.Column(sa.String(36), sa.ForeignKey('instances.uuid',
                                                           ondelete='CASCADE'),
                              nullable=False)
    key = sa.Column(sa.String(255), nullable=False)
    value = sa.Column(sa.String(255), nullable=False)


class InstanceSystemMetadata(Base):
    __tablename__ = 'instance_system_metadata'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'key'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid = sa.Column(sa.String(36), sa.ForeignKey('instances.uuid',
                                                           ondelete='CASCADE'),
                              nullable=False)
    key = sa.Column(sa.String(255), nullable=False)
    value = sa.Column(sa.Text)


class InstanceFault(Base):
    __tablename__ = 'instance_faults'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid = sa.Column(sa.String(36), sa.ForeignKey('instances.uuid',
                                                           ondelete='CASCADE'),
                              nullable=False, index=True)
    code = sa.Column(sa.Integer, nullable=False)
    message = sa.Column(sa.String(255), nullable=False)
    details = sa.Column(sa.Text)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class InstanceAction(Base):
    __tablename__ = 'instance_actions'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid = sa.Column(sa.String(36), nullable=False, index=True)
    action = sa.Column(sa.String(255), nullable=False)
    request_id = sa.Column(sa.String(255), nullable=False)
    user_id = sa.Column(sa.String(255), nullable=False)
    project_id = sa.Column(sa.String(255), nullable=False)
    start_time = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finish_time = sa.Column(sa.DateTime)
    message = sa.Column(sa.String(255))


class Quota(Base):
    __tablename__ = 'quotas'
    __table_args__ = (sa.UniqueConstraint('project_id', 'resource'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    project_id = sa.Column(sa.String(255), nullable=False)
    resource = sa.Column(sa.String(255), nullable=False)
    hard_limit = sa.Column(sa.Integer, nullable=False)


class QuotaClass(Base):
    __tablename__ = 'quota_classes'
    __table_args__ = (sa.UniqueConstraint('class_name', 'resource'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    class_name = sa.Column(sa.String(255), nullable=False)
    resource = sa.Column(sa.String(255), nullable=False)
    hard_limit = sa.Column(sa.Integer, nullable=False)


class KeyPair(Base):
    """A user's key pair (os-keypairs): names are unique per user."""
    __tablename__ = 'key_pairs'
    __table_args__ = (sa.UniqueConstraint('user_id', 'name'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    user_id = sa.Column(sa.String(255), nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    type = sa.Column(sa.String(4), nullable=False, default='ssh')
    fingerprint = sa.Column(sa.String(255), nullable=False)
    public_key = sa.Column(sa.Text, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class InstanceFile(Base):
    """A personality file of a server, in the order given (``position`` 0, 1, ...)."""
    __tablename__ = 'instance_files'
    __table_args__ = (sa.UniqueConstraint('instance_uuid', 'position'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid = sa.Column(sa.String(36), sa.ForeignKey('instances.uuid',
                                                           ondelete='CASCADE'),
                              nullable=False, index=True)
    position = sa.Column(sa.Integer, nullable=False)
    path = sa.Column(sa.Text, nullable=False)
    contents = sa.Column(sa.LargeBinary, nullable=False)


class VendordataAnswer(Base):
    """A dynamic vendordata target's answer for one server, until ``expires_at``
    (UTC): ``key`` digests the target and the request body."""
    __tablename__ = 'vendordata_answers'
    instance_uuid = sa.Column(sa.String(36), sa.ForeignKey('instances.uuid',
                                                           ondelete='CASCADE'),
                              primary_key=True)
    key = sa.Column(sa.String(64), primary_key=True)
    target = sa.Column(sa.String(255), nullable=False)
    answer = sa.Column(sa.Text, nullable=False)
    expires_at = sa.Column(sa.DateTime, nullable=False)


class Service(Base):
    """A service that reports itself (Nova's ``services``): inject-agent on each
    compute host. ``report_count`` and ``last_seen_up`` are its heartbeats (the
    database's clock); ``capabilities`` what it said it can do at the last one."""
    __tablename__ = 'services'
    __table_args__ = (sa.UniqueConstraint('host', 'binary',
                                          name='uniq_services0host0binary'),)
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    uuid = sa.Column(sa.String(36), nullable=False, unique=True)
    # The uuid of the host's compute node (its hypervisor, from microversion 2.53).
    node_uuid = sa.Column(sa.String(36), nullable=False, unique=True)
    host = sa.Column(sa.String(255), nullable=False)
    binary = sa.Column(sa.String(255), nullable=False)
    report_count = sa.Column(sa.Integer, nullable=False, server_default='0')
    disabled = sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    disabled_reason = sa.Column(sa.String(255))
    forced_down = sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    last_seen_up = sa.Column(sa.DateTime)
    capabilities = sa.Column(sa.JSON)
    created_at = sa.Column(sa.DateTime, nullable=False)
    updated_at = sa.Column(sa.DateTime)
