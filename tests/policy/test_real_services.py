"""A run without some real service says so in its summary line, naming each (tests
skipped for want of it, or deselected by -m as tox does); tox deselects every one by
name instead of letting some skip unseen."""

import configparser
import os
import pathlib
import re
import shlex
import subprocess
import sys

from tests import services

TOP = pathlib.Path(__file__).resolve().parents[2]
# Two fast tests, one of them on PostgreSQL (a db_url parameter) and one not.
SELECTION = ['tests/db/test_migrations.py::test_upgrade_is_idempotent']


def _pytest(*args, **env):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith('INJECT_TEST_') and k != 'CI'}
    clean.update(env)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '-p', 'no:warnings'] + list(args), cwd=TOP, env=clean,
                          capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, lines[-1], proc.stdout


def test_a_missing_service_is_named_in_the_summary_line():
    code, summary, out = _pytest(*SELECTION)
    assert code == 0, out
    assert re.search(r'1 passed, 1 skipped, 1 without PostgreSQL in ', summary), out
    assert 'PostgreSQL: 1 skipped for want of it' in out


def test_a_deselected_service_is_named_in_the_summary_line():
    code, summary, out = _pytest('-m', 'not postgresql', *SELECTION)
    assert code == 0, out
    assert re.search(r'1 passed, 1 deselected, 1 without PostgreSQL in ', summary), out
    assert 'PostgreSQL: 1 deselected by -m' in out


def test_tests_left_out_by_keyword_are_not_counted():
    code, summary, out = _pytest('-k', 'not postgresql', *SELECTION)
    assert code == 0, out
    assert 'without' not in summary and 'real services' not in out, out


def test_a_run_with_every_service_adds_nothing():
    code, summary, out = _pytest('-m', 'not postgresql and not keystone',
                                 'tests/policy/test_config_sample.py')
    assert code == 0, out
    assert 'without' not in summary and 'real services' not in out, out


def test_tox_deselects_every_real_service_by_name():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(TOP / 'tox.ini')
    argv = shlex.split(tox['testenv']['commands'].replace('{posargs:tests}', ''))
    options = argv[argv.index('pytest') + 1:]
    expression = options[options.index('-m') + 1]
    for marker in services.MARKERS:
        assert 'not %s' % marker in expression, (marker, expression)
