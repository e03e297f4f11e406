"""Bodies of os-hypervisors, as Nova shows a compute node at each microversion: an
inject host is one node, named by its agent's host, whose figures are those its agent
reported with its last heartbeat (:func:`inject.agent.hostinfo.resources`) and the
sums of the flavors of the servers it holds."""

import json

from inject.api import microversion as mv
from inject.api.views import services as service_views

_FIGURES = ('vcpus', 'memory_mb', 'local_gb', 'disk_available_least')
_USAGE = ('vcpus_used', 'memory_mb_used', 'local_gb_used', 'current_workload',
          'running_vms')


def reported(row):
    """What the node's agent reported of its host with its last heartbeat."""
    return (row.capabilities or {}).get('resources') or {}


def figures(reported, usage):
    """The node's numbers: what its agent ``reported``, what its servers use
    (``usage``) and what is left (``free_ram_mb``, ``free_disk_gb``)."""
    numbers = {name: int(reported.get(name) or 0) for name in _FIGURES}
    numbers.update({name: int((usage or {}).get(name, 0)) for name in _USAGE})
    numbers['free_ram_mb'] = numbers['memory_mb'] - numbers['memory_mb_used']
    numbers['free_disk_gb'] = numbers['local_gb'] - numbers['local_gb_used']
    return numbers


def hypervisor(req, row, now, detail=False, usage=None, servers=None):
    """One node (``row``: its service). Ids are integers before 2.53, uuids from
    2.53; ``cpu_info`` a JSON string before 2.28, an object from 2.28; ``servers``
    only when the node has some (before 2.75, as Nova)."""
    uuids = req.version >= mv.V2_53
    body = {'id': row.node_uuid if uuids else row.id, 'hypervisor_hostname': row.host,
            'state': service_views.state(req, row, now),
            'status': service_views.status(row)}
    if detail:
        host = reported(row)
        body.update({
            'hypervisor_type': host.get('hypervisor_type') or '',
            'hypervisor_version': int(host.get('hypervisor_version') or 0),
            'host_ip': host.get('host_ip'),
            'service': {'id': row.uuid if uuids else row.id, 'host': row.host,
                        'disabled_reason': row.disabled_reason},
        })
        body.update(figures(host, usage))
        cpu_info = host.get('cpu_info') or {}
        body['cpu_info'] = cpu_info if req.version >= mv.V2_28 else json.dumps(cpu_info)
    if servers:
        body['servers'] = [{'name': name, 'uuid': uuid} for name, uuid in servers]
    return body
