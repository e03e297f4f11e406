"""Effective limits (inject.api.quotas.Quotas): configuration defaults, overridden by
the "default" quota class, overridden by a project's own limits."""


def test_defaults_are_the_default_class(api):
    quotas, db = api.app.quotas, api.app.db
    assert quotas.defaults()['cores'] == api.conf.quota.cores
    assert quotas.defaults()['floating_ips'] == 10
    db.quota_class_set('default', {'cores': 33})
    db.quota_class_set('gold', {'cores': 64})
    assert quotas.defaults() == quotas.class_limits('default')
    assert quotas.defaults()['cores'] == 33
    assert quotas.class_limits('gold')['cores'] == 64
    assert quotas.class_limits('gold')['instances'] == api.conf.quota.instances


def test_project_limits_override_the_defaults(api):
    quotas, db = api.app.quotas, api.app.db
    db.quota_class_set('default', {'cores': 33, 'ram': 1024})
    db.quota_set('demo', {'ram': 2048})
    limits = quotas.limits('demo')
    assert (limits['cores'], limits['ram']) == (33, 2048)
    assert quotas.limits('other')['ram'] == 1024
