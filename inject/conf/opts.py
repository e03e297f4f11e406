"""Entry point for oslo-config-generator (namespace ``inject``)."""

from inject import conf


def list_opts():
    """Return [(group, [opts])] for every option inject registers."""
    merged = {}
    for module in conf.MODULES:
        for group, opts in module.list_opts().items():
            merged.setdefault(group, []).extend(opts)
    return [(group, opts) for group, opts in merged.items()]
