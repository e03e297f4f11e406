"""README.rst is what a new user reads first: it must render, and keep its two commands."""

import os

import docutils.core

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _readme():
    with open(os.path.join(TOP, 'README.rst')) as f:
        return f.read()


class _Collect:
    """A docutils warning stream that keeps what it is told."""

    def __init__(self):
        self.lines = []

    def write(self, text):
        if text.strip():
            self.lines.append(text.strip())


def test_readme_is_valid_restructuredtext():
    warnings = _Collect()
    docutils.core.publish_doctree(_readme(), settings_overrides={
        'report_level': 2, 'halt_level': 5, 'warning_stream': warnings})
    assert warnings.lines == []


def test_readme_gives_the_two_setup_commands_ci_runs():
    text = _readme()
    assert '    bash tools/setup.sh demo\n' in text
    assert '    bash tools/setup.sh test\n' in text
    with open(os.path.join(TOP, '.ci', 'run')) as f:
        assert 'bash tools/setup.sh test' in f.read()
