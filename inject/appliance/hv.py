"""A wrapper around qemu that bounds TCG's translation cache (``-accel tcg,tb-size=N``).

Under TCG, qemu keeps the guest code it has translated in a cache that by default may
grow to 1 GiB; an appliance's cache reached about 160 MB with one drive and 530 MB more
with 16 (measured on our 2-core test machines: qemu RSS 490 MB with the default,
330 MB with tb-size 64 at the same speed; tb-size 16 was 25% slower).

libguestfs's direct backend writes qemu's command line itself and has no setting for
the cache, so :func:`prepare` writes a small ``/bin/sh`` wrapper into ``cache_dir`` (as
the PVH kernel is) and the driver hands it to libguestfs as its hypervisor binary
(``set_hv``). For the appliance launch only (the command line with ``-kernel``) it drops
``accel=`` from ``-machine`` and adds ``-accel tcg,tb-size=N`` (qemu refuses both forms
together); libguestfs's feature probes (``-help``, ``-device ?``, ``-qmp stdio``) run
unchanged. It ``exec``\\ s the real qemu: no extra process stays alive, and signals and
the exit status are qemu's own. Under KVM no wrapper is used.

The appliance's qemu also gets SIGKILL when its parent, the worker, dies (util-linux's
``setpriv --pdeathsig``, which ``exec``\\ s qemu in turn). That is the one job of
libguestfs's recovery process, a fork of the worker that would otherwise stay beside
every appliance (about 27 MB RSS, measured), so with this wrapper the driver turns it
off (:func:`reaps`). Without ``setpriv`` the wrapper runs qemu directly and the recovery
process stays.
"""

import logging
import os
import shutil

from inject import fileutils

LOG = logging.getLogger(__name__)

SUBDIR = 'qemu-wrapper'

_TEMPLATE = r'''#!/bin/sh
# Written by inject (inject.appliance.hv); rewritten when the settings or qemu change.
# qemu: %(stamp)s
# The appliance launch (it has -kernel) runs under TCG with a %(tb_size)d MiB translation
# cache; libguestfs's feature probes run unchanged.
real='%(real)s'
appliance=
for arg do
    [ "$arg" = -kernel ] && appliance=1
done
[ -n "$appliance" ] || exec "$real" "$@"
set -f
n=$#
while [ "$n" -gt 0 ]; do
    arg=$1
    shift
    n=$((n - 1))
    case $arg in
    -machine|-M)
        [ "$n" -gt 0 ] || { set -- "$@" "$arg"; continue; }
        value=$1
        shift
        n=$((n - 1))
        kept=
        saved_ifs=$IFS
        IFS=,
        for part in $value; do
            case $part in
            accel=*) ;;
            *) kept=${kept:+$kept,}$part ;;
            esac
        done
        IFS=$saved_ifs
        [ -z "$kept" ] || set -- "$@" "$arg" "$kept"
        ;;
    -enable-kvm|-accel|--accel)
        # TCG with a bounded cache is the point of this wrapper.
        if [ "$arg" != -enable-kvm ] && [ "$n" -gt 0 ]; then shift; n=$((n - 1)); fi
        ;;
    *)
        set -- "$@" "$arg"
        ;;
    esac
done
exec %(reaper)s"$real" "$@" -accel tcg,tb-size=%(tb_size)d
'''


def real_qemu(default):
    """The qemu libguestfs would run: ``$LIBGUESTFS_HV`` when set, else ``default``."""
    return os.environ.get('LIBGUESTFS_HV') or default


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return 'missing'
    return 'size %d, mtime %d' % (st.st_size, st.st_mtime)


def setpriv():
    """Path of util-linux's setpriv, or None."""
    found = shutil.which('setpriv')
    return found if found and "'" not in found else None


def reaps():
    """Whether the wrapper kills the appliance's qemu when the worker dies (then
    libguestfs's recovery process is not needed)."""
    return setpriv() is not None


def script(real, tb_size, reaper=None):
    """The wrapper's text for ``real`` qemu and a ``tb_size`` MiB cache; with
    ``reaper`` (setpriv's path) qemu dies with its parent."""
    if "'" in real:
        raise ValueError('a qemu path with a quote: %r' % real)
    return _TEMPLATE % {'real': real, 'tb_size': tb_size, 'stamp': _stamp(real),
                        'reaper': "'%s' --pdeathsig KILL " % reaper if reaper else ''}


def prepare(cache_dir, tb_size, real):
    """Path of the wrapper for ``tb_size`` (written or refreshed in ``cache_dir``), or
    None -- then qemu runs with its default cache -- when ``tb_size`` is 0, there is no
    ``cache_dir`` or the wrapper cannot be written.

    The wrapper is rewritten when qemu changes (its size or mtime is in the text), which
    also gives it a new mtime: libguestfs keys its cached qemu feature probe on the
    binary's size and mtime, so the probe is redone for the new qemu.
    """
    if not tb_size or not cache_dir:
        return None
    try:
        text = script(real, tb_size, setpriv())
    except ValueError as e:
        LOG.warning('No tb-size wrapper (%s); qemu runs with its default TCG cache', e)
        return None
    path = os.path.join(cache_dir, SUBDIR, 'qemu-tcg-tb%d' % tb_size)
    try:
        with open(path) as f:
            if f.read() == text and os.access(path, os.X_OK):
                return path
    except OSError:
        pass
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fileutils.atomic_write(path, text, mode=0o755)
    except OSError as e:
        LOG.warning('Cannot write the tb-size wrapper %s (%s); qemu runs with its default '
                    'TCG cache', path, e)
        return None
    return path
