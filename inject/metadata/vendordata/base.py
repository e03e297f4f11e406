"""The interface every vendordata provider offers to :class:`InstanceMetadata`.

One provider object stands for the whole configured set (Nova's
``[api]vendordata_providers``): :meth:`static` is the content of ``vendor_data.json`` and
:meth:`v2` the content of ``vendor_data2.json`` (``{'static': ..., '<target>': ...}``).
Both take the :class:`~inject.metadata.instance.InstanceInfo` of the server and return a
JSON-serialisable value. :class:`~inject.metadata.base.InstanceMetadata` calls each at
most once per object (lazily, when a path or the config drive needs it), so one config
drive build makes one round of dynamic requests, reused by every version directory.

A provider raises to fail hard (Nova's ``vendordata_dynamic_failure_fatal``); the
exception reaches whoever asked (the config drive build, or the metadata service) as is.
"""

import abc


class VendorDataProvider(abc.ABC):

    @abc.abstractmethod
    def static(self, info):
        """The content of ``vendor_data.json`` (a dict; ``{}`` when there is none)."""

    @abc.abstractmethod
    def v2(self, info):
        """The content of ``vendor_data2.json``: ``{'static': ..., target: ...}``."""


class EmptyVendorData(VendorDataProvider):
    """No vendordata at all: both files are ``{}``."""

    def static(self, info):
        return {}

    def v2(self, info):
        return {}
