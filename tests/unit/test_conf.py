"""Options are registered on the ConfigOpts a caller gives, never on import."""

import subprocess
import sys

from inject import conf as inject_conf
from inject.conf import opts  # noqa: F401  (inject_conf.opts)


def test_importing_registers_nothing_on_the_global_conf():
    code = ('import oslo_config.cfg as cfg, inject.conf, inject.api.wsgi, inject.manager; '
            'print(\' \'.join(sorted(cfg.CONF)))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    # oslo libraries register their own options on import; inject registers none.
    ours = {name for group, opts in inject_conf.opts.list_opts()
            for name in ([str(group)] if str(group) != 'DEFAULT' else
                         [opt.dest for opt in opts])}
    assert ours and not ours & set(out.split())


def test_two_confs_share_no_overrides():
    a, b = inject_conf.new_conf(), inject_conf.new_conf()
    a([], project='inject', default_config_files=[])
    b([], project='inject', default_config_files=[])
    a.set_override('inject_partition', 3, group='injection')
    assert a.injection.inject_partition == 3
    assert b.injection.inject_partition == -2


def test_register_opts_is_idempotent():
    conf = inject_conf.new_conf()
    inject_conf.register_opts(conf)
    conf([], project='inject', default_config_files=[])
    assert conf.appliance.inject_timeout == 120
