"""inject: puts data into a new server's disk through libguestfs, never through a host mount.

The tree reads in the direction data flows: a request (``request``) names a disk image
(``image``) and what to write; the manager (``manager``) checks the image, wraps it in an
overlay and hands it to an appliance worker (``appliance``), which mounts the guest
filesystem through a VFS driver (``vfs``) and applies the items (``injection``) at paths
normalised by ``paths``; every call ends in a ``report``.

The library's public face, on this host (a compute driver on another host asks that
host's agent instead: :mod:`inject.agent`)::

    import inject

    req = inject.InjectionRequest(inject.DiskImage('/var/lib/nova/instances/u/disk',
                                                   'qcow2'),
                                  files=[('/etc/motd', b'hello\\n')])
    report, = inject.inject([req])           # one appliance launch for all requests
    print(report.format_text())
    inject.status()['ok']                    # does injection work on this host?

Both take ``conf``, an oslo.config ConfigOpts (default: :data:`inject.conf.CONF`) on
which they register the options they read. Importing this package loads neither
oslo.config nor libguestfs.
"""

from inject.image import DiskImage
from inject.request import InjectionRequest

__all__ = ['DiskImage', 'InjectionRequest', 'inject', 'status']


def inject(requests, conf=None):
    """Inject each of ``requests`` (:class:`InjectionRequest`) and return one
    :class:`inject.report.Report` per request, in order.

    The disks share one appliance launch: only send requests of one tenant together.
    Nothing is dropped silently: an item that was not injected says why in its report.
    """
    from inject import manager
    return manager.Manager(_conf(conf)).inject(list(requests))


def status(conf=None):
    """Launch the appliance once and say whether injection works on this host: the
    dict ``inject status`` prints (``ok``, ``reason``, ``accelerator``, ...)."""
    from inject import manager
    return manager.Manager(_conf(conf)).status()


def _conf(conf):
    """``conf`` (default: the global CONF) with the options injection reads."""
    from inject import conf as inject_conf
    return inject_conf.register_opts(inject_conf.CONF if conf is None else conf,
                                     inject_conf.HOST_MODULES)
