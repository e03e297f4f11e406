"""inject.conf.check: every registered option's value read at once, each bad one named
with its value and where it came from; and the library options a service registers
before the check (inject.conf.base)."""

import pytest
from oslo_config import cfg

from inject import conf as inject_conf
from inject import exception
from inject.conf import base
from inject.conf import check


def parsed(tmp_path, text, argv=(), env=None, monkeypatch=None):
    path = tmp_path / 'inject.conf'
    path.write_text(text)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    conf = inject_conf.new_conf()
    conf(['--config-file', str(path)] + list(argv), project='inject')
    return conf, str(path)


def problems(conf):
    with pytest.raises(exception.InvalidConfiguration) as e:
        check.check(conf)
    return str(e.value)


def test_a_valid_configuration_passes(tmp_path):
    conf, _ = parsed(tmp_path, '[api]\nvendordata_dynamic_connect_timeout = 3\n')
    check.check(conf)


def test_each_bad_value_is_named_with_its_value_and_file(tmp_path):
    conf, path = parsed(tmp_path, '[api]\nvendordata_dynamic_connect_timeout = 2\n'
                                  'workers = many\n'
                                  '[injection]\ninject_partition = -3\n')
    text = problems(conf)
    assert ('[api]vendordata_dynamic_connect_timeout = 2 (in %s): Should be greater '
            'than or equal to 3' % path) in text
    assert "[api]workers = many (in %s): invalid literal for int()" % path in text
    assert '[injection]inject_partition = -3 (in %s)' % path in text
    assert text.endswith('nothing was started.')


def test_a_deprecated_name_is_found_too(tmp_path):
    # Nova's pre-Ocata [DEFAULT] name of an [api] option
    conf, path = parsed(tmp_path, '[DEFAULT]\nvendordata_dynamic_read_timeout = 0\n')
    assert ('[api]vendordata_dynamic_read_timeout = 0 (in %s): Should be greater than '
            'or equal to 1' % path) in problems(conf)


def test_the_last_file_that_sets_it_is_named(tmp_path):
    first = tmp_path / 'first.conf'
    first.write_text('[api]\nmax_limit = 5\n')
    conf, path = parsed(tmp_path, '[api]\nmax_limit = -1\n')
    conf(['--config-file', str(first), '--config-file', path], project='inject')
    assert '[api]max_limit = -1 (in %s)' % path in problems(conf)


def test_a_secret_is_not_shown(tmp_path):
    conf, _ = parsed(tmp_path, '[neutron]\nmetadata_proxy_shared_secret = s\n')
    conf.register_opt(cfg.IntOpt('pin', secret=True), group='neutron')
    conf(['--config-file', str(tmp_path / 'inject.conf')], project='inject')
    (tmp_path / 'inject.conf').write_text('[neutron]\npin = hunter2\n')
    conf(['--config-file', str(tmp_path / 'inject.conf')], project='inject')
    text = problems(conf)
    assert '[neutron]pin = **** (in ' in text and 'not a valid integer' in text
    assert 'hunter2' not in text


def test_the_environment_is_named(tmp_path, monkeypatch):
    conf, _ = parsed(tmp_path, '', env={'OS_API__MAX_LIMIT': 'lots'},
                     monkeypatch=monkeypatch)
    assert ("[api]max_limit = lots (from the environment variable OS_API__MAX_LIMIT): "
            "invalid literal for int()") in problems(conf)


def test_without_oslo_configs_private_lookup_option_and_reason_remain(tmp_path,
                                                                      monkeypatch):
    conf, _ = parsed(tmp_path, '[api]\nmax_limit = -1\n')

    def changed(*args):
        raise AttributeError('_get_from_namespace')
    monkeypatch.setattr(check, '_lookup', changed)
    assert ('[api]max_limit: Should be greater than or equal to 0'
            in problems(conf))


def test_every_registered_option_is_read(tmp_path):
    conf, _ = parsed(tmp_path, '')
    found = set(check.registered(conf))
    assert ('api', 'vendordata_dynamic_connect_timeout') in found
    assert (None, 'state_path') in found and ('injection', 'inject_partition') in found


# --- registering what a service reads besides inject's options ---------------------

def test_an_auth_plugin_that_does_not_exist_is_named(tmp_path):
    conf, path = parsed(tmp_path, '[vendordata_dynamic_auth]\nauth_type = pasword\n')
    with pytest.raises(exception.InvalidConfiguration) as e:
        base.register_auth_plugin(conf, 'vendordata_dynamic_auth')
    assert ("[vendordata_dynamic_auth]auth_type = pasword (in %s): no keystoneauth "
            "plugin is named 'pasword'" % path) in str(e.value)
    assert 'v3password' in str(e.value)


def test_an_auth_plugins_options_are_registered_and_checked(tmp_path):
    conf, path = parsed(tmp_path, '[vendordata_dynamic_auth]\nauth_type = password\n'
                                  'auth_url = http://k/v3\n'
                                  '[svc]\nauth_type = v3applicationcredential\n')
    base.register_auth_plugin(conf, 'vendordata_dynamic_auth')
    assert conf.vendordata_dynamic_auth.auth_url == 'http://k/v3'
    # keystoneauth's own loading registers the same options again: no conflict
    from keystoneauth1 import loading
    assert loading.load_auth_from_conf_options(
        conf, 'vendordata_dynamic_auth').auth_url == 'http://k/v3'
    # an auth_section points at another group
    conf.register_group(cfg.OptGroup('other'))
    loading.register_auth_conf_options(conf, 'other')
    conf.set_override('auth_section', 'svc', 'other')
    base.register_auth_plugin(conf, 'other')
    assert 'application_credential_secret' in conf.svc
