"""os-aggregates: inject has no host aggregates, so the list (which ``openstack
hypervisor show`` asks to name a host's aggregates) is empty; creating or changing
one is not served (405)."""


def index(req):
    req.authorize('os_compute_api:os-aggregates:index')
    return 200, {'aggregates': []}
