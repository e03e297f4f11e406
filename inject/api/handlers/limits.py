"""GET /limits: absolute limits and usage of the caller's project."""

_NETWORK = {'maxSecurityGroupRules': 'security_group_rules',
            'maxSecurityGroups': 'security_groups', 'maxTotalFloatingIps': 'floating_ips'}


def index(req):
    project = req.GET.get('tenant_id') if req.is_admin else None
    project = project or req.context.project_id
    limits = req.app.quotas.limits(project)
    used = req.app.quotas.usage(project)
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
    if not req.at_least('2.57'):
        absolute['maxPersonality'] = limits['injected_files']
        absolute['maxPersonalitySize'] = limits['injected_file_content_bytes']
    if not req.at_least('2.39'):
        absolute['maxImageMeta'] = limits['metadata_items']
    if not req.at_least('2.36'):
        for key, resource in _NETWORK.items():
            absolute[key] = limits[resource]
        absolute['totalFloatingIpsUsed'] = 0
        absolute['totalSecurityGroupsUsed'] = 0
    return 200, {'limits': {'absolute': absolute, 'rate': []}}
