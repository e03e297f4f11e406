"""The libguestfs appliance: sessions with deadlines, accelerator choice, warm launches.

What callers use is here; the modules hold the rest:

- :mod:`inject.appliance.session`: one appliance for a batch of jobs, its deadlines;
- :mod:`inject.appliance.accelerator`: KVM or TCG, PVH or stock kernel, vCPUs, and the
  outcomes remembered in ``cache_dir``;
- :mod:`inject.appliance.channel`: the pipe to the worker process and its messages;
- :mod:`inject.appliance.worker`: the worker process (the injection itself);
- :mod:`inject.appliance.warm`: appliances launched ahead of requests, and their pool;
- :mod:`inject.appliance.kernel`: the host kernel, uncompressed once for PVH boot;
- :mod:`inject.appliance.hv`: the qemu wrapper bounding TCG's translation cache;
- :mod:`inject.appliance.memory`: memory per appliance, and the launch-time check.
"""

from inject.appliance.accelerator import choose_accelerator
from inject.appliance.accelerator import kvm_usable
from inject.appliance.accelerator import launch_settings
from inject.appliance.channel import Workers
from inject.appliance.session import Job
from inject.appliance.session import JobOutcome
from inject.appliance.session import run
from inject.appliance.session import SessionOutcome
from inject.appliance.session import Settings
from inject.appliance.warm import WarmPool

__all__ = ['choose_accelerator', 'Job', 'JobOutcome', 'kvm_usable', 'launch_settings',
           'run', 'SessionOutcome', 'Settings', 'WarmPool', 'Workers']
