"""What a compute host has, as its agent reports it with each heartbeat and the
hypervisors API shows it: CPUs, memory, the disk holding the instances, its address,
and the version of inject that serves it."""

import importlib.metadata
import os
import platform

from inject.appliance import memory

#: The hypervisor type shown for every inject host: inject prepares disks and runs no
#: guests, so it names no hypervisor it does not run.
HYPERVISOR_TYPE = 'inject'


def version_as_int(text):
    """Nova's convert_version_to_int: ``1.2.3`` -> 1002003."""
    parts = [int(p) for p in text.split('.')[:3] if p.isdigit()]
    parts += [0] * (3 - len(parts))
    return parts[0] * 1000000 + parts[1] * 1000 + parts[2]


def _inject_version():
    try:
        return importlib.metadata.version('inject')
    except importlib.metadata.PackageNotFoundError:
        return '0.0.0'


def resources(conf, meminfo=memory.MEMINFO):
    """``{'vcpus', 'memory_mb', 'local_gb', 'disk_available_least', 'host_ip',
    'hypervisor_type', 'hypervisor_version', 'cpu_info'}``: disk figures (GiB, whole)
    are of the filesystem holding ``[api]instances_path`` (its nearest existing
    directory)."""
    path = conf.api.instances_path
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    st = os.statvfs(path)
    gib = 1024 ** 3
    return {
        'vcpus': os.cpu_count() or 1,
        'memory_mb': memory.meminfo_mb('MemTotal', meminfo) or 0,
        'local_gb': st.f_blocks * st.f_frsize // gib,
        'disk_available_least': st.f_bavail * st.f_frsize // gib,
        'host_ip': conf.my_ip,
        'hypervisor_type': HYPERVISOR_TYPE,
        'hypervisor_version': version_as_int(_inject_version()),
        'cpu_info': {'arch': platform.machine(),
                     'topology': {'cpus': os.cpu_count() or 1}},
    }
