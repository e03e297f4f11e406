"""The configured vendordata providers (``[api]vendordata_providers``) as the one
provider :class:`~inject.metadata.base.InstanceMetadata` asks (B-2.x):

* ``vendor_data.json`` (:meth:`ConfiguredVendorData.static`) is StaticJSON's file, or
  ``{}`` when StaticJSON is not configured. Nova answered 404 there and, since Queens,
  failed every config drive build without StaticJSON (B-2.9).
* ``vendor_data2.json`` (:meth:`ConfiguredVendorData.v2`) has ``static`` (StaticJSON)
  and one entry per DynamicJSON target, in the configured provider order. ``static`` is
  StaticJSON's whatever the order: a target named ``static`` is dropped with a warning
  (Nova let a later StaticJSON overwrite it silently, B-2.6). Without StaticJSON a
  target may be named ``static``, as in Nova.
"""

import logging

from inject.metadata.vendordata import base
from inject.metadata.vendordata import dynamic
from inject.metadata.vendordata import static

LOG = logging.getLogger(__name__)


class ConfiguredVendorData(base.VendorDataProvider):
    """Build once per process (targets are validated here; a bad one raises
    :class:`~inject.exception.InvalidVendorDataTarget`) and share: the StaticJSON file
    and the dynamic answers are cached inside."""

    def __init__(self, conf, cache=None, session=None):
        self.providers = list(conf.api.vendordata_providers)
        self.static_json = static.StaticJSON(conf.api.vendordata_jsonfile_path)
        self.dynamic_json = None
        if 'DynamicJSON' in self.providers:
            self.dynamic_json = dynamic.DynamicJSON(conf, cache=cache, session=session)

    def static(self, info):
        if 'StaticJSON' not in self.providers:
            return {}
        return self.static_json.get()

    def v2(self, info):
        result = {}
        for provider in self.providers:
            if provider == 'StaticJSON':
                result['static'] = self.static_json.get()
            elif provider == 'DynamicJSON' and self.dynamic_json is not None:
                answers = self.dynamic_json.get(info)
                for name, answer in answers.items():
                    if name == 'static' and 'StaticJSON' in self.providers:
                        LOG.warning('Dynamic vendordata target "static" is dropped: '
                                    'the name belongs to StaticJSON (instance %s)',
                                    info.uuid)
                        continue
                    if name in result:
                        LOG.warning('Removing duplicate metadata key: %s (instance '
                                    '%s)', name, info.uuid)
                        continue
                    result[name] = answer
        return result


def from_conf(conf, **kwargs):
    return ConfiguredVendorData(conf, **kwargs)
