"""The Image API client of a compute host (inject.compute.glance): where the Image
API is (an endpoint, or the Keystone catalog's ``image`` service found with a token
of a real Keystone), and how its answers are read."""

from keystoneauth1 import loading as ks_loading
import pytest

from inject import exception
from inject.compute import glance
from inject.compute import imagecache
from tests import keystone as ks
from tests.api import support
from tests.clients.conftest import keystone_api  # noqa: F401  (fixture)
from tests.compute.conftest import fetcher_conf, image_id

# A region of this module's own: the catalog is shared with the other Keystone tests.
REGION = 'inject-image-fetch'


@pytest.mark.parametrize('endpoint,base', [
    ('http://glance:9292', 'http://glance:9292'),
    ('http://glance:9292/', 'http://glance:9292'),
    ('http://glance:9292/v2', 'http://glance:9292'),
    ('http://glance:9292/v2/', 'http://glance:9292'),
    ('http://api:8774/v2.1', 'http://api:8774/v2.1'),
    ('http://api:8774/v2.1/v2', 'http://api:8774/v2.1'),
])
def test_the_version_at_the_end_of_the_endpoint_is_dropped(tmp_path, endpoint, base):
    api = glance.ImageAPI(fetcher_conf(tmp_path, endpoint))
    assert api.endpoint() == base
    ident = '6c3a3b4e-3f0d-4e7e-9a4c-2c8f1e0f5d11'
    assert api.url(ident, 'file') == '%s/v2/images/%s/file' % (base, ident)


def test_no_endpoint_and_no_auth_is_a_clear_error(tmp_path):
    api = glance.ImageAPI(fetcher_conf(tmp_path, None))
    with pytest.raises(exception.ImageServiceUnavailable) as e:
        api.show('6c3a3b4e-3f0d-4e7e-9a4c-2c8f1e0f5d11')
    assert 'Set [glance]endpoint_override' in str(e.value)


def test_nothing_listens_there(tmp_path):
    api = glance.ImageAPI(fetcher_conf(tmp_path, 'http://127.0.0.1:9/v2.1'))
    with pytest.raises(exception.ImageServiceUnavailable) as e:
        api.show('6c3a3b4e-3f0d-4e7e-9a4c-2c8f1e0f5d11')
    assert 'ConnectFailure' in str(e.value)


def test_show_and_download(tmp_path, image_api):
    api = glance.ImageAPI(fetcher_conf(tmp_path, image_api.endpoint))
    ident = image_id(image_api)
    meta = api.show(ident)
    assert (meta['id'], meta['status'], meta['os_hash_algo']) == (ident, 'active',
                                                                  'sha512')
    url, resp = api.download(ident)
    with resp:
        assert url == image_api.endpoint + '/v2/images/%s/file' % ident
        assert int(resp.headers['Content-Length']) == meta['size']


def test_an_image_without_data_is_unacceptable(tmp_path):
    from tests.clients.conftest import InjectApi
    state = tmp_path / 'api'
    state.mkdir()
    support.make_image(state, name='broken')
    (state / 'images' / 'broken.json').write_text('[]')
    served = InjectApi(state)
    try:
        api = glance.ImageAPI(fetcher_conf(tmp_path / 'host', served.endpoint))
        with pytest.raises(exception.ImageUnacceptable) as e:
            api.download(image_id(served, 'broken'))          # 204
        assert 'Image has no associated data' in str(e.value)
    finally:
        served.stop()


@pytest.fixture
def image_catalog(keystone, keystone_api):  # noqa: F811
    """inject-api (auth_strategy keystone) as the ``image`` service of region
    REGION in the test Keystone's catalog, listed as catalogs list Glance (…/v2)."""
    ks.ensure_region(keystone, REGION)
    ks.ensure_endpoint(keystone, 'image', keystone_api.endpoint + '/v2', name='glance',
                       region=REGION)
    return keystone


def test_the_catalogs_image_service_with_a_token(
        tmp_path, image_catalog, keystone_api):  # noqa: F811
    user = image_catalog['users']['p1-member']
    conf = fetcher_conf(tmp_path, None, **{
        'glance.region_name': REGION, 'glance.valid_interfaces': ['public']})
    conf.register_opts(ks_loading.get_auth_plugin_conf_options('password'),
                       group='glance')
    for name, value in (('auth_type', 'password'),
                        ('auth_url', image_catalog['auth_url']),
                        ('username', 'p1-member'), ('password', user['password']),
                        ('user_domain_id', 'default'),
                        ('project_name', user['project_name']),
                        ('project_domain_id', 'default')):
        conf.set_override(name, value, group='glance')
    cache = imagecache.ImageCache(conf)
    assert cache.api.endpoint() == keystone_api.endpoint
    base = cache.fetch(keystone_api.image_id)
    with open(base.path, 'rb') as f:
        assert f.read() == (keystone_api.state / 'images' / 'cirros.qcow2').read_bytes()


def test_without_a_token_keystones_inject_api_refuses(tmp_path, keystone_api):  # noqa: F811
    api = glance.ImageAPI(fetcher_conf(tmp_path, keystone_api.endpoint))
    with pytest.raises(exception.ImageServiceUnavailable) as e:
        api.show(keystone_api.image_id)
    assert 'answered 401' in str(e.value)
