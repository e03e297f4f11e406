"""Vendordata providers: what ``vendor_data.json`` and ``vendor_data2.json`` hold."""

from inject.metadata.vendordata.base import EmptyVendorData  # noqa: F401
from inject.metadata.vendordata.base import VendorDataProvider  # noqa: F401
