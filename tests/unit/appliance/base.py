"""What the appliance tests build their sessions from."""

from inject import injection
from inject.appliance import kernel as appliance_kernel
from inject.appliance import session
from inject.vfs import api

KERNEL = appliance_kernel.Kernel('/cache/pvh-kernel/vmlinux-6.1', '6.1', '/lib/modules/6.1')


def settings(tmp_path, **kwargs):
    kwargs.setdefault('cache_dir', str(tmp_path / 'cache'))
    return session.Settings(**kwargs)


def file_item(path, data=b'data\n', mandatory=True):
    return injection.Item('file', path, data, mandatory)


def job(path, partition=0, items=(), name=None):
    return session.Job(drive=api.Drive(path, 'qcow2'), image_name=name or path,
                       partition=partition, items=list(items))
