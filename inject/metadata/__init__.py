"""What a guest learns about itself without anything written into its disk.

:mod:`inject.metadata.instance` gathers one server's facts (:class:`InstanceInfo`),
:mod:`inject.metadata.base` renders them as Nova's metadata tree (the same bytes for the
HTTP metadata service and for the config drive), :mod:`inject.metadata.configdrive`
writes that tree into an ISO 9660 image labelled ``config-2``, and
:mod:`inject.metadata.vendordata` holds the vendordata providers.
"""
