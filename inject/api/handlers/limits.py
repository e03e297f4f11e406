"""GET /limits: absolute limits and usage of the caller's project."""

from inject.api import microversion as mv

_NETWORK = {'maxSecurityGroupRules': 'security_group_rules',
            'maxSecurityGroups': 'security_groups', 'maxTotalFloatingIps': 'floating_ips'}


def index(req):
    req.authorize('os_compute_api:limits')
    project = req.context.project_id
    if 'tenant_id' in req.GET:
        project = req.GET['tenant_id']
        req.authorize('os_compute_api:limits:other_project', project)
    limits, used = req.app.quotas.limits_and_usage(project)
    absolute = {
        'maxServerMeta': limits['metadata_items'],
        'maxTotalCores': limits['cores'],
        'maxTotalInstances': limits['instances'],
        'maxTotalKeypairs': limits['key_pairs'],
        'maxTotalRAMSize': limits['ram'],
        'maxServerGroups': limits['server_groups'],
        'maxServerGroupMembers': limits['server_group_members'],
        'totalCoresUsed': used['cores'],
        'totalInstancesUsed': used['instances'],
        'totalRAMUsed': used['ram'],
        'totalServerGroupsUsed': 0,
    }
    if req.version < mv.V2_57:
        absolute['maxPersonality'] = limits['injected_files']
        absolute['maxPersonalitySize'] = limits['injected_file_content_bytes']
    if req.version < mv.V2_39:
        absolute['maxImageMeta'] = limits['metadata_items']
    if req.version < mv.V2_36:
        for key, resource in _NETWORK.items():
            absolute[key] = limits[resource]
        absolute['totalFloatingIpsUsed'] = 0
        absolute['totalSecurityGroupsUsed'] = 0
    return 200, {'limits': {'absolute': absolute, 'rate': []}}
