"""A forked WSGI worker (inject.cmd.wsgi_server) while it makes its application."""

import os
import signal

from inject.cmd import wsgi_server


def test_a_sighup_while_the_worker_makes_its_app_does_not_end_it():
    """The parent passes SIGHUP on to every worker, a freshly forked one included: one
    still making its app must live on (SIGHUP's default action would end it)."""
    def make_app():
        os.kill(os.getpid(), signal.SIGHUP)
        raise SystemExit(7)          # made it past the signal: stop here

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            wsgi_server._worker(None, make_app, None, 1, 'test', None,
                                None)
        except SystemExit as e:
            code = e.code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), 'the worker died of signal %d' % os.WTERMSIG(status)
    assert os.waitstatus_to_exitcode(status) == 7
