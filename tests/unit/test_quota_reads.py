"""What inject.api.quotas reads for a create's checks."""

import pytest

from inject.api import faults
from inject.api import quotas
from tests.api.support import make_conf


class CountingDb:
    def __init__(self, project=None):
        self.reads = 0
        self.project = project or {}

    def quota_state(self, project_id, class_name='default', usage=True):
        self.reads += 1
        return {}, dict(self.project), None


def test_no_metadata_needs_no_limits_read(tmp_path):
    db = CountingDb()
    quotas.Quotas(make_conf(tmp_path), db).check_metadata('p', {})
    assert db.reads == 0


def test_metadata_is_checked_against_the_limit_read(tmp_path):
    db = CountingDb({'metadata_items': 1})
    q = quotas.Quotas(make_conf(tmp_path), db)
    q.check_metadata('p', {'a': '1'})
    with pytest.raises(faults.Fault, match='too many metadata items'):
        q.check_metadata('p', {'a': '1', 'b': '2'})
    assert db.reads == 2
