"""Run by the tests under cloud-init's PYTHONPATH: read a config drive tree the way
cloud-init's ConfigDrive datasource does, print the result as JSON (bytes as base64).

    python cloudinit_reader.py TREE
"""

import base64
import json
import sys

from cloudinit import version
from cloudinit.sources import DataSourceConfigDrive
from cloudinit.sources import convert_vendordata
from cloudinit.sources.helpers import openstack


def plain(value):
    if isinstance(value, bytes):
        return {'b64': base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def main(tree):
    reader = openstack.ConfigDriveReader(tree)
    working = reader._find_working_version()
    res = DataSourceConfigDrive.read_config_drive(tree)
    out = {
        'cloudinit_version': version.version_string(),
        'working_version': working,
        'result': plain(res),
        'vendordata_raw': plain(convert_vendordata(res.get('vendordata'))),
        'vendordata2_raw': plain(convert_vendordata(res.get('vendordata2'))),
    }
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
