"""Quota resources, which of them each microversion shows (tables of ``(min, max,
names)`` rows), effective limits, and the checks Nova makes on create and rebuild
(messages are Nova's)."""

from inject.api import faults
from inject.api import microversion as mv

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


def _without(names, dropped):
    return tuple(n for n in names if n not in dropped)


_ALL = tuple(RESOURCES)

# (min, max, resources shown) of os-quota-sets: network quotas until 2.35 (Nova kept
# showing them), injected_* until 2.56.
QUOTA_SET_RESOURCES = [
    (mv.MIN, mv.V2_35, _ALL + tuple(NETWORK_DEFAULTS)),
    (mv.V2_36, mv.V2_56, _ALL),
    (mv.V2_57, mv.MAX, _without(_ALL, INJECTED)),
]

# (min, max, resources shown) of os-quota-class-sets: server groups only from 2.50 and
# network quotas until 2.49, as in Nova; injected_* until 2.56.
QUOTA_CLASS_RESOURCES = [
    (mv.MIN, mv.V2_49, _without(_ALL, SERVER_GROUPS) + tuple(NETWORK_DEFAULTS)),
    (mv.V2_50, mv.V2_56, _ALL),
    (mv.V2_57, mv.MAX, _without(_ALL, INJECTED)),
]


def quota_set_resources(version):
    """os-quota-sets resources at ``version``."""
    return mv.select(QUOTA_SET_RESOURCES, version)


def quota_class_resources(version):
    """os-quota-class-sets resources at ``version``."""
    return mv.select(QUOTA_CLASS_RESOURCES, version)


class Quotas:
    def __init__(self, conf, db):
        self.conf = conf
        self.db = db

    def defaults(self):
        """Configuration defaults overridden by the "default" quota class."""
        return self.class_limits('default')

    def class_limits(self, class_name):
        """Configuration defaults overridden by the quota class ``class_name``."""
        limits = {name: getattr(self.conf.quota, opt) for name, opt in RESOURCES.items()}
        limits.update(NETWORK_DEFAULTS)
        limits.update(self.db.quota_class_get(class_name))
        return limits

    def limits(self, project_id):
        return self.limits_and_usage(project_id, usage=False)[0]

    def limits_and_usage(self, project_id, usage=True):
        """(effective limits, usage or None) of the project, read in one transaction."""
        classes, project, used = self.db.quota_state(project_id, usage=usage)
        limits = {name: getattr(self.conf.quota, opt) for name, opt in RESOURCES.items()}
        limits.update(NETWORK_DEFAULTS)
        limits.update(classes)
        limits.update(project)
        if used is not None:
            used = dict(zip(('instances', 'cores', 'ram'), used))
        return limits, used

    def usage(self, project_id):
        instances, cores, ram = self.db.instance_usage(project_id)
        return {'instances': instances, 'cores': cores, 'ram': ram}

    def instance_check(self, project_id, flavor, min_count=1, max_count=1):
        """The decision :meth:`inject.db.api.Database.instances_create` makes on the
        usage it counts under the project's lock: how many servers of ``flavor`` to
        create -- ``max_count`` when the instances, cores and ram quotas allow that
        many, else as many as they allow if that is at least ``min_count`` -- else 403
        in Nova's words (nova.compute.utils.check_num_instances_quota)."""
        limits = self.limits(project_id)
        each = {'instances': 1, 'cores': flavor['vcpus'], 'ram': flavor['ram']}

        def check(used):
            allowed = max_count
            for r, n in each.items():
                if limits[r] >= 0 and n:
                    allowed = min(allowed, max(0, limits[r] - used[r]) // n)
            if allowed >= min_count:
                return allowed
            wanted = {r: max_count * n for r, n in each.items()}
            over = [r for r in each
                    if limits[r] >= 0 and used[r] + wanted[r] > limits[r]]
            wanted['instances'] = (str(min_count) if min_count == max_count
                                   else '%d-%d' % (min_count, max_count))

            def listed(values):
                return ', '.join(str(values[r]) for r in over)
            raise faults.Forbidden(
                'Quota exceeded for %s: Requested %s, but already used %s of %s %s'
                % (', '.join(over), listed(wanted), listed(used), listed(limits),
                   ', '.join(over)))
        return check

    def check_metadata(self, project_id, metadata):
        if not metadata:            # no limit refuses none: no need to read them
            return
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
