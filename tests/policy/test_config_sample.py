"""etc/inject.conf.sample is generated from the options; it must never go stale."""

import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sample_matches_the_options(tmp_path):
    out = tmp_path / 'inject.conf.sample'
    generator = os.path.join(os.path.dirname(sys.executable), 'oslo-config-generator')
    subprocess.run([generator, '--config-file',
                    os.path.join(TOP, 'etc', 'inject-config-generator.conf'),
                    '--output-file', str(out)], check=True, cwd=TOP)
    with open(os.path.join(TOP, 'etc', 'inject.conf.sample')) as f:
        committed = f.read()
    assert out.read_text() == committed, (
        'etc/inject.conf.sample is stale: run tools/generate-config-sample.sh')


def test_every_option_is_listed():
    from inject.conf import new_conf
    from inject.conf import opts
    CONF = new_conf()
    listed = {(str(group), opt.dest) for group, group_opts in opts.list_opts()
              for opt in group_opts}
    for group in ('injection', 'appliance'):
        for name in CONF[group]:
            assert (group, name) in listed, '[%s]%s is not in list_opts()' % (group, name)
    assert ('DEFAULT', 'state_path') in listed
