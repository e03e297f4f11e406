"""Quota resources, which of them each microversion shows, effective limits, and the
personality checks Nova makes on create and rebuild (messages are Nova's)."""

from inject.api import faults

# API name -> [quota] option name (Nova's mapping: the path limit's option differs).
RESOURCES = {
    'instances': 'instances', 'cores': 'cores', 'ram': 'ram',
    'metadata_items': 'metadata_items', 'key_pairs': 'key_pairs',
    'server_groups': 'server_groups', 'server_group_members': 'server_group_members',
    'injected_files': 'injected_files',
    'injected_file_content_bytes': 'injected_file_content_bytes',
    'injected_file_path_bytes': 'injected_file_path_length',
}
# Network resources shown before 2.36 (nova-network is long gone; Nova showed its
# defaults). They can be updated but limit nothing.
NETWORK_DEFAULTS = {'floating_ips': 10, 'fixed_ips': -1, 'security_groups': 10,
                    'security_group_rules': 20}
INJECTED = ('injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes')
SERVER_GROUPS = ('server_groups', 'server_group_members')


def quota_set_resources(req):
    """os-quota-sets resources at the request's microversion."""
    names = list(RESOURCES)
    if not req.at_least('2.36'):
        names += list(NETWORK_DEFAULTS)
    if req.at_least('2.57'):
        names = [n for n in names if n not in INJECTED]
    return names


def quota_class_resources(req):
    """os-quota-class-sets resources: server groups only from 2.50, as in Nova."""
    names = list(RESOURCES)
    if not req.at_least('2.50'):
        names = [n for n in names if n not in SERVER_GROUPS]
        names += list(NETWORK_DEFAULTS)
    if req.at_least('2.57'):
        names = [n for n in names if n not in INJECTED]
    return names


class Quotas:
    def __init__(self, conf, db):
        self.conf = conf
        self.db = db

    def defaults(self):
        """Configuration defaults overridden by the "default" quota class."""
        limits = {name: getattr(self.conf.quota, opt) for name, opt in RESOURCES.items()}
        limits.update(NETWORK_DEFAULTS)
        limits.update(self.db.quota_class_get('default'))
        return limits

    def class_limits(self, class_name):
        limits = {name: getattr(self.conf.quota, opt) for name, opt in RESOURCES.items()}
        limits.update(NETWORK_DEFAULTS)
        limits.update(self.db.quota_class_get(class_name))
        return limits

    def limits(self, project_id):
        limits = self.defaults()
        limits.update(self.db.quota_get(project_id))
        return limits

    def usage(self, project_id):
        instances, cores, ram = self.db.instance_usage(project_id)
        return {'instances': instances, 'cores': cores, 'ram': ram}

    def check_instance(self, project_id, flavor):
        """403 when one more server of ``flavor`` would exceed the project's quota."""
        limits = self.limits(project_id)
        used = self.usage(project_id)
        wanted = {'instances': 1, 'cores': flavor['vcpus'], 'ram': flavor['ram']}
        over = [r for r in ('instances', 'cores', 'ram')
                if limits[r] >= 0 and used[r] + wanted[r] > limits[r]]
        if over:
            r = over[0]
            raise faults.Forbidden(
                'Quota exceeded for %s: Requested %d, but already used %d of %d %s'
                % (', '.join(over), wanted[r], used[r], limits[r], r))

    def check_metadata(self, project_id, metadata):
        allowed = self.limits(project_id)['metadata_items']
        if allowed >= 0 and len(metadata) > allowed:
            raise faults.Forbidden('Quota exceeded, too many metadata items.')

    def check_personality(self, project_id, files):
        """Nova's three checks, in Nova's order, on ``[(path, decoded bytes)]``.

        Differences from Nova, deliberate: content is measured after base64 decoding
        (as Nova's API guide says; Nova measured the base64 text), and the path in UTF-8
        bytes (Nova: characters).
        """
        if not files:
            return
        limits = self.limits(project_id)
        if 0 <= limits['injected_files'] < len(files):
            raise faults.Forbidden('Personality file limit exceeded')
        max_path = max(len(path.encode('utf-8')) for path, _ in files)
        max_content = max(len(content) for _, content in files)
        allowed = limits['injected_file_path_bytes']
        if 0 <= allowed < max_path:
            raise faults.Forbidden('Personality file path exceeds maximum %d' % allowed)
        allowed = limits['injected_file_content_bytes']
        if 0 <= allowed < max_content:
            raise faults.Forbidden('Personality file content exceeds maximum %d'
                                   % allowed)
