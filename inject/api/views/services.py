"""Bodies of os-services, as Nova shows a service at each microversion."""

from inject import servicegroup
from inject.api import microversion as mv
from inject.api.views import times

#: The availability zone of every compute service (Nova's default_availability_zone,
#: the zone inject-api's servers are in: it has no host aggregates).
ZONE = 'nova'


def status(service):
    return 'disabled' if service.disabled else 'enabled'


def state(req, service, now):
    return 'up' if servicegroup.is_up(service, now, req.app.conf) else 'down'


def service(req, row, now):
    """One service of the list (and of a 2.53 update): its id is the integer id
    before 2.53 and the uuid from 2.53; ``forced_down`` from 2.11."""
    body = {'id': row.uuid if req.version >= mv.V2_53 else row.id,
            'binary': row.binary, 'host': row.host, 'zone': ZONE,
            'status': status(row), 'state': state(req, row, now),
            'updated_at': times.isotime_usec(row.updated_at),
            'disabled_reason': row.disabled_reason}
    if req.version >= mv.V2_11:
        body['forced_down'] = row.forced_down
    return body
