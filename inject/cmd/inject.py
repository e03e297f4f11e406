"""The operator's command line: ``inject image``, ``inject status``, ``inject demo``.

Exit status: 0 when every requested item was injected (``status``: injection works on
this host), 1 when not, with a one-line reason on stderr; 2 for bad input.
"""

import argparse
import json
import os
import stat
import sys

from oslo_config import cfg
from oslo_log import log as logging

import inject
from inject import cmd
from inject import conf as inject_conf
from inject import exception
from inject import image as image_mod
from inject import request as request_mod

LOG = logging.getLogger(__name__)
CONF = inject_conf.register_opts(inject_conf.CONF, inject_conf.HOST_MODULES)
logging.register_options(CONF)


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--config-file', action='append', default=[], metavar='F',
                        help='an oslo.config file (repeatable; a nova.conf works: its '
                             '[libvirt]inject_* and [guestfs]debug are read). Default: '
                             'the usual inject.conf locations.')
    common.add_argument('--json', action='store_true', help='print JSON')
    common.add_argument('--verbose', action='store_true', help='log progress to stderr')

    parser = argparse.ArgumentParser(prog='inject', description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)

    img = sub.add_parser('image', parents=[common],
                         help='inject files, a key, metadata... into a disk image')
    img.add_argument('disk', metavar='DISK')
    img.add_argument('--format', required=True, choices=image_mod.FORMATS,
                     help='the disk format (never probed from the content)')
    img.add_argument('--partition', type=int, metavar='N',
                     help='-1 inspect, 0 whole disk, N partition N (default: '
                          '[injection]inject_partition)')
    img.add_argument('--file', action='append', default=[], metavar='GUEST_PATH=LOCAL_FILE',
                     help='a personality file (repeatable)')
    img.add_argument('--key', metavar='KEY', help='an SSH public key line for root')
    img.add_argument('--network-file', metavar='F',
                     help='content for /etc/network/interfaces')
    img.add_argument('--metadata', action='append', default=[], metavar='K=V',
                     help='server metadata, written as /meta.js (repeatable)')
    img.add_argument('--admin-password-file', metavar='F',
                     help='a file holding root\'s new password (first line)')

    sub.add_parser('status', parents=[common],
                   help='launch the appliance once: does injection work on this host?')

    demo = sub.add_parser('demo', parents=[common],
                          help='build a demo disk, inject into it, and show the result')
    demo.add_argument('--workdir', metavar='DIR',
                      help='where the demo disk goes (default: $state_path/demo)')
    return parser


def _setup(args):
    cmd.configure(CONF, [], 'inject', default_config_files=args.config_file or None)
    logging.setup(CONF, 'inject')
    if not (args.verbose or CONF.debug):
        import logging as std_logging
        std_logging.getLogger('inject').setLevel(std_logging.WARNING)


def _read(path, what):
    """The bytes of a local regular file, at most request.MAX_FILE_BYTES of them."""
    limit = request_mod.MAX_FILE_BYTES
    try:
        with open(path, 'rb') as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise exception.InvalidRequest(
                    reason='%s %s is not a regular file' % (what, path))
            data = f.read(limit + 1)
    except OSError as e:
        raise exception.InvalidRequest(reason='cannot read %s %s: %s' % (
            what, path, e.strerror or e))
    if len(data) > limit:
        raise exception.InvalidRequest(reason='%s %s is larger than %d bytes (16 MiB), the '
                                              'most inject puts into one guest file'
                                       % (what, path, limit))
    return data


def request_from_args(args):
    files = []
    for spec in args.file:
        guest, sep, local = spec.partition('=')
        if not sep or not guest or not local:
            raise exception.InvalidRequest(
                reason='--file %r must be GUEST_PATH=LOCAL_FILE' % spec)
        files.append((guest, _read(local, 'file')))
    metadata = None
    if args.metadata:
        metadata = {}
        for spec in args.metadata:
            key, sep, value = spec.partition('=')
            if not sep or not key:
                raise exception.InvalidRequest(reason='--metadata %r must be K=V' % spec)
            metadata[key] = value
    password = None
    if args.admin_password_file:
        try:
            lines = _read(args.admin_password_file, 'password file').decode(
                'utf-8', 'strict').splitlines()
        except UnicodeDecodeError as e:
            raise exception.InvalidRequest(
                reason='password file %s is not UTF-8 text (byte %d)'
                % (args.admin_password_file, e.start))
        password = lines[0] if lines else ''
    net = _read(args.network_file, 'network file') if args.network_file else None
    return inject.InjectionRequest(
        inject.DiskImage(args.disk, args.format), files=files, key=args.key, net=net,
        metadata=metadata, admin_password=password, partition=args.partition)


def _print_report(report, as_json):
    if as_json:
        print(report.to_json(indent=2))
    else:
        print(report.format_text())
    if not report.ok:
        print('inject: not everything was injected: %s' % _one_line(report.reason()),
              file=sys.stderr)
        return 1
    return 0


def cmd_image(args):
    req = request_from_args(args)
    report, = inject.inject([req], conf=CONF)
    return _print_report(report, args.json)


def cmd_status(args):
    status = inject.status(conf=CONF)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print('injection works on this host: %s' % ('yes' if status['ok'] else 'no'))
        print('inject_partition:  %s%s' % (status['inject_partition'], '' if
              status['injection_enabled'] else ' (injection disabled)'))
        print('libguestfs:        %s' % (status['libguestfs'] or '-'))
        print('accelerator:       %s (setting: %s; /dev/kvm: %s)' % (
            status['accelerator'] or '-', status['accelerator_setting'],
            status['kvm_device']))
        if status['launch_seconds'] is not None:
            print('appliance launch:  %.2f s (%s kernel)' % (status['launch_seconds'],
                                                           status['kernel_boot']))
        for note in status['notes']:
            print('note:              %s' % note)
        if status['reason']:
            print('why not:           %s' % status['reason'])
    if not status['ok']:
        print('inject: %s' % status['reason'], file=sys.stderr)
        return 1
    return 0


def cmd_demo(args):
    from inject import demo
    return demo.run(CONF, args.workdir, args.json)


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        _setup(args)
        return {'image': cmd_image, 'status': cmd_status, 'demo': cmd_demo}[
            args.command](args)
    except (exception.InjectError, cfg.Error) as e:
        print('inject: %s' % _one_line(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('inject: interrupted', file=sys.stderr)
        return 130
    except Exception as e:        # a bug: one line, the traceback only in the log
        LOG.debug('inject %s failed', args.command, exc_info=True)
        print('inject: internal error: %s: %s (run with --verbose for the traceback)'
              % (type(e).__name__, _one_line(e)), file=sys.stderr)
        if args.verbose:
            import traceback
            traceback.print_exc(file=sys.stderr)
        return 1


def _one_line(error):
    return ' '.join(str(error).split())


if __name__ == '__main__':
    sys.exit(main())
