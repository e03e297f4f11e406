"""Wrappers around qemu: qemu dies with its worker; TCG's translation cache is bounded.

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
the exit status are qemu's own.

On every accelerator the appliance's qemu gets SIGKILL when its parent, the worker,
dies (util-linux's ``setpriv --pdeathsig``, which ``exec``\\ s qemu in turn; see
:mod:`inject.parent_death`): under TCG the tb-size wrapper does it, under KVM (or with
tb-size 0) a wrapper that does only that (:func:`prepare_reaper`). That is the one job
of libguestfs's recovery process, a fork of the worker that would otherwise stay beside
every appliance (about 27 MB RSS, measured) and looks for a dead worker every 2 s, so
with a wrapper the driver turns it off (:func:`reaps`). Without ``setpriv`` the TCG
wrapper runs qemu directly, KVM gets no wrapper, and the recovery process stays.
"""

import logging
import os

from inject import fileutils
from inject import parent_death

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

_REAPER_TEMPLATE = r'''#!/bin/sh
# Written by inject (inject.appliance.hv); rewritten when setpriv or qemu change.
# qemu: %(stamp)s
# qemu dies with the appliance worker that started it (SIGKILL when the worker dies).
exec %(reaper)s'%(real)s' "$@"
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
    """``setpriv --pdeathsig KILL`` as a shell prefix, or None (no setpriv, or a path
    the wrapper cannot quote)."""
    argv = parent_death.setpriv()
    if not argv or "'" in argv[0]:
        return None
    return "'%s' %s " % (argv[0], ' '.join(argv[1:]))


def reaps():
    """Whether the wrappers kill the appliance's qemu when the worker dies (then
    libguestfs's recovery process is not needed)."""
    return setpriv() is not None


def script(real, tb_size, reaper=None):
    """The TCG wrapper's text for ``real`` qemu and a ``tb_size`` MiB cache; with
    ``reaper`` (:func:`setpriv`) qemu dies with its parent."""
    if "'" in real:
        raise ValueError('a qemu path with a quote: %r' % real)
    return _TEMPLATE % {'real': real, 'tb_size': tb_size, 'stamp': _stamp(real),
                        'reaper': reaper or ''}


def prepare(cache_dir, tb_size, real):
    """Path of the TCG wrapper for ``tb_size`` (written or refreshed in ``cache_dir``),
    or None -- then qemu runs with its default cache -- when ``tb_size`` is 0, there is
    no ``cache_dir`` or the wrapper cannot be written.

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
    return _write(os.path.join(cache_dir, SUBDIR, 'qemu-tcg-tb%d' % tb_size), text,
                  'the tb-size wrapper', 'qemu runs with its default TCG cache')


def prepare_reaper(cache_dir, real):
    """Path of the wrapper that only makes qemu die with its worker (for KVM, or TCG
    with its default cache), written or refreshed in ``cache_dir``; None without
    setpriv, a ``cache_dir``, or when it cannot be written (libguestfs's recovery
    process then does that job)."""
    reaper = setpriv()
    if not reaper or not cache_dir or "'" in real:
        return None
    text = _REAPER_TEMPLATE % {'real': real, 'stamp': _stamp(real), 'reaper': reaper}
    return _write(os.path.join(cache_dir, SUBDIR, 'qemu-reaper'), text,
                  'the qemu wrapper', "libguestfs's recovery process kills qemu instead")


def _write(path, text, what, otherwise):
    """``path`` holding ``text`` (executable), written when it differs; None when it
    cannot be written (logged, with ``otherwise``: what happens then)."""
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
        LOG.warning('Cannot write %s %s (%s); %s', what, path, e, otherwise)
        return None
    return path
