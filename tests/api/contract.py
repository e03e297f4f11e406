"""tempest's response schemas (tempest.lib.api_schema) as the contract: pick the schema
tempest's own service client would use at a microversion and validate a response."""

import types

from tempest.lib.common import api_version_request
from tempest.lib.common import rest_client
from tempest.lib.services.compute import aggregates_client
from tempest.lib.services.compute import flavors_client
from tempest.lib.services.compute import hypervisor_client
from tempest.lib.services.compute import images_client
from tempest.lib.services.compute import keypairs_client
from tempest.lib.services.compute import limits_client
from tempest.lib.services.compute import quota_classes_client
from tempest.lib.services.compute import quotas_client
from tempest.lib.services.compute import servers_client
from tempest.lib.services.compute import services_client
from tempest.lib.services.compute import versions_client

CLIENTS = {
    'servers': servers_client.ServersClient,
    'flavors': flavors_client.FlavorsClient,
    'images': images_client.ImagesClient,
    'keypairs': keypairs_client.KeyPairsClient,
    'limits': limits_client.LimitsClient,
    'quotas': quotas_client.QuotasClient,
    'quota_classes': quota_classes_client.QuotaClassesClient,
    'services': services_client.ServicesClient,
    'hypervisors': hypervisor_client.HypervisorClient,
    'aggregates': aggregates_client.AggregatesClient,
}


def schema_module(client, version):
    wanted = api_version_request.APIVersionRequest(version)
    for item in CLIENTS[client].schema_versions_info:
        low = api_version_request.APIVersionRequest(item['min'])
        high = api_version_request.APIVersionRequest(item['max'])
        if (low.is_null() or wanted >= low) and (high.is_null() or wanted <= high):
            return item['schema']
    raise LookupError('no %s schema for %s' % (client, version))


def check(client, name, version, response):
    """Validate a webtest response against tempest's schema ``name``."""
    if client == 'versions':
        schema = getattr(versions_client.schema, name)
    else:
        module = schema_module(client, version)
        # Like tempest's clients: a schema a version module lacks (create_server) is
        # the base one.
        schema = getattr(module, name, None) or getattr(
            CLIENTS[client].schema_versions_info[0]['schema'], name)
    resp = types.SimpleNamespace(status=response.status_int)
    body = response.json if response.body else None
    rest_client.RestClient.validate_response(schema, resp, body)
    return body
