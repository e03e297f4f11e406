"""The console entry points. Each starts with :func:`configure`."""

import sys

from oslo_config import cfg

from inject import exception
from inject.conf import check


def configure(conf, argv, prog, register=(), **kwargs):
    """Parse ``argv`` and the configuration files of ``prog`` into ``conf``, register
    what ``prog`` reads besides the options registered at import (``register``:
    functions of ``conf``, called after parsing because some depend on values, e.g.
    a keystoneauth plugin's options on ``auth_type``) and check every registered
    option's value (:mod:`inject.conf.check`). On a problem: one line on stderr that
    names it -- the option, the value, the file -- and ``SystemExit(2)``, before
    anything starts. ``kwargs`` go to the ConfigOpts call."""
    try:
        conf(argv, project='inject', prog=prog, validate_default_values=True, **kwargs)
        check.check(conf)      # first what registering reads (auth_strategy...)
        for registrar in register:
            registrar(conf)
        check.check(conf)
    except (exception.InjectError, cfg.Error) as e:
        print('%s: %s' % (prog, ' '.join(str(e).split())), file=sys.stderr, flush=True)
        raise SystemExit(2)
