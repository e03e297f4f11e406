"""An operator's existing nova.conf keeps working: Nova's option names are read."""

from oslo_config import cfg

from inject.conf import appliance
from inject.conf import injection


def _conf(tmp_path, text):
    path = tmp_path / 'nova.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    # by group name: the OptGroup objects carry overrides, and other tests set some on
    # the global CONF
    conf.register_opts(injection.injection_opts, group='injection')
    conf.register_opts(appliance.appliance_opts, group='appliance')
    conf([], default_config_files=[str(path)])
    return conf


def test_nova_names_are_honoured(tmp_path):
    conf = _conf(tmp_path, '[libvirt]\ninject_partition = -1\ninject_key = true\n'
                           'inject_password = true\n[guestfs]\ndebug = true\n')
    assert conf.injection.inject_partition == -1
    assert conf.injection.inject_key is True
    assert conf.injection.inject_password is True
    assert conf.appliance.debug is True


def test_defaults_match_nova(tmp_path):
    conf = _conf(tmp_path, '')
    assert conf.injection.inject_partition == -2
    assert conf.injection.inject_key is False
    assert conf.injection.inject_password is False


def test_inject_partition_below_minus_two_is_refused(tmp_path):
    conf = _conf(tmp_path, '[injection]\ninject_partition = -3\n')
    try:
        conf.injection.inject_partition
    except (ValueError, cfg.ConfigFileValueError) as e:
        assert 'inject_partition' in str(e) or '-3' in str(e)
    else:
        raise AssertionError('inject_partition = -3 was accepted')
