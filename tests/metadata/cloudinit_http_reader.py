"""Run by the tests under cloud-init's PYTHONPATH: read a metadata service the way
cloud-init's OpenStack datasource does (``MetadataReader(url).read_v2()``), print the
result as JSON (bytes as base64).

    python cloudinit_http_reader.py URL

The EC2 part is skipped as cloud-init's own test does: its reader goes to
169.254.169.254 whatever the URL (vendordata.md C-8.9).
"""

import json
import sys

from cloudinit import version
from cloudinit.sources import convert_vendordata
from cloudinit.sources.helpers import openstack

from cloudinit_reader import plain   # this script's folder is on sys.path


def main(url):
    reader = openstack.MetadataReader(url, timeout=10, retries=0)
    reader._read_ec2_metadata = lambda: {}
    working = reader._find_working_version()
    res = reader.read_v2()
    json.dump({
        'cloudinit_version': version.version_string(),
        'working_version': working,
        'result': plain(res),
        'vendordata_raw': plain(convert_vendordata(res.get('vendordata'))),
        'vendordata2_raw': plain(convert_vendordata(res.get('vendordata2'))),
    }, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
