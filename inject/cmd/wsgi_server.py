"""Serving a WSGI application with :mod:`inject.httpserver` (waitress's parsing and
threads, an epoll loop that reads whole requests before a thread takes them, bounded
heads, timeouts and connections) until SIGTERM or Ctrl-C: what inject-api and
inject-metadata share. :func:`serve` serves in this process; :func:`serve_workers` forks
worker processes that serve one listening socket, and supervises them."""

import os
import signal
import socket
import sys
import time

from oslo_log import log as logging

from inject import httpserver
from inject import parent_death
from inject.httpserver import server as server_mod

LOG = logging.getLogger(__name__)

#: A worker that dies sooner than this after its start is restarted only after this
#: long, so that one failing at start does not fork in a loop.
RESTART_DELAY = 1.0


def serve(app, settings, host, port, threads, name, detail='', on_hup=None):
    """Bind ``host:port`` (port 0: any free one), say where on stdout, serve until
    SIGTERM or Ctrl-C, then drain the server and return. ``settings``: the
    server's :class:`inject.httpserver.Settings`. ``on_hup()`` is called on SIGHUP (in
    the signal handler: keep it short)."""
    settings = httpserver.fit_open_files(settings)
    sock = listening_socket(host, port)
    server = httpserver.Server(app, sock, settings, threads, name)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop())
    signal.signal(signal.SIGINT, lambda signum, frame: server.stop())
    if on_hup is not None:
        signal.signal(signal.SIGHUP, lambda signum, frame: on_hup())
    bound_host, bound_port = sock.getsockname()[:2]
    LOG.info('%s listening on http://%s:%s/ %s', name, bound_host, bound_port, detail)
    print('%s: listening on http://%s:%s/' % (name, bound_host, bound_port), flush=True)
    server.run()


def listening_socket(host, port):
    """A socket listening on ``host:port`` (port 0: any free one)."""
    family = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family,
                                backlog=server_mod.BACKLOG)
    # Accepted sockets inherit it: without it, answers wait for delayed ACKs (40 ms
    # on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.set_inheritable(True)
    return sock


def serve_workers(make_app, settings, host, port, threads, name, workers, detail='',
                  on_hup=None, on_stop=None, on_death=None):
    """Serve ``make_app()`` (called in each worker, after the fork: nothing such as a
    database engine is shared) from ``workers`` processes on one listening socket,
    until SIGTERM or SIGINT; return when every worker has stopped.

    The parent restarts a worker that dies (after :data:`RESTART_DELAY` when it died
    that soon after its start), passes SIGHUP on to the workers, where ``on_hup(app)``
    runs, and on SIGTERM or SIGINT stops them all: each stops accepting, finishes the
    requests it holds and calls ``on_stop(app)`` before it exits. ``on_death(pid)``
    runs in the parent when the worker ``pid`` died (before its replacement starts).
    ``settings``: each worker's :class:`inject.httpserver.Settings`."""
    settings = httpserver.fit_open_files(settings)
    sock = listening_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    LOG.info('%s listening on http://%s:%s/ with %d worker processes %s', name,
             bound_host, bound_port, workers, detail)
    print('%s: listening on http://%s:%s/' % (name, bound_host, bound_port), flush=True)
    children = {}            # pid -> start time (monotonic)
    state = {'stopping': False}

    def start_worker():
        # Signals wait until the child has its own handlers (the parent's would make
        # it signal its siblings).
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        parent_death.before_fork()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                # Exits at once when this parent dies, however it dies (SIGKILL too).
                parent_death.watch(name='%s worker %d' % (name, os.getpid()))
                code = _worker(sock, make_app, settings, threads, name, on_hup,
                               on_stop)
            except BaseException:
                LOG.exception('%s worker %d failed', name, os.getpid())
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        children[pid] = time.monotonic()
        LOG.info('%s worker %d started', name, pid)

    def pass_on(signum, frame):
        if signum in (signal.SIGTERM, signal.SIGINT):
            if not state['stopping']:
                LOG.info('%s: got signal %d, stopping %d workers', name, signum,
                         len(children))
            state['stopping'] = True
            signum = signal.SIGTERM
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for signum in _SIGNALS:
        signal.signal(signum, pass_on)
    for _ in range(workers):
        start_worker()
    # The parent keeps the socket open (for the workers it restarts) but never accepts.
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None:
            continue
        if state['stopping']:
            continue
        LOG.error('%s worker %d died (%s); starting another', name, pid,
                  _describe(status))
        if on_death is not None:
            try:
                on_death(pid)
            except Exception:
                LOG.exception('%s: cleaning up after worker %d failed', name, pid)
        if time.monotonic() - started < RESTART_DELAY:
            time.sleep(RESTART_DELAY)
        if not state['stopping']:
            start_worker()
    sock.close()
    LOG.info('%s: every worker stopped', name)


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _worker(sock, make_app, settings, threads, name, on_hup, on_stop):
    """One worker process: serve on ``sock`` until SIGTERM or SIGINT; the exit code."""
    # Until the app exists, SIGTERM and SIGINT end the worker and SIGHUP is ignored:
    # there is nothing to re-read yet (the app reads its files as it is made), and its
    # default action would kill a worker that the parent passes a SIGHUP on to while
    # it starts.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    app = make_app()
    server = httpserver.Server(app, sock, settings, threads, name)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop())
    signal.signal(signal.SIGINT, lambda signum, frame: server.stop())
    signal.signal(signal.SIGHUP, (lambda signum, frame: on_hup(app)) if on_hup
                  else signal.SIG_IGN)
    server.run()
    if on_stop is not None:
        on_stop(app)
    return 0


def _describe(status):
    """How a worker ended, from its wait status."""
    if os.WIFSIGNALED(status):
        return 'signal %d' % os.WTERMSIG(status)
    return 'exit code %d' % os.waitstatus_to_exitcode(status)
