"""The Image API as a compute host reads it: ``GET /v2/images/{id}`` (the image's
attributes: size, format, checksums, properties) and ``GET /v2/images/{id}/file``
(its data, streamed), as python-glanceclient's ``images.get`` and ``images.data``
call them for Nova.

Where it is: ``[glance]endpoint_override`` (Glance's URL, or inject-api's
``http://API-HOST:8774/v2.1``, which serves its image directory so), else the
``image`` service of the Keystone catalog (``[glance]`` service_type, interfaces,
region), found with the token of the ``[glance]`` auth plugin; both through a
keystoneauth1 session (``[glance]`` timeout, TLS options, connect_retries). A major
version at the end of the endpoint (``/v2``, as catalogs often list Glance) is
dropped, as glanceclient drops it: the paths name the version. (``/v2.1`` stays: it
is inject-api's prefix, under which it serves ``/v2/images``.)
"""

import re
import urllib.parse

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_utils import uuidutils

from inject import exception
from inject.conf import glance as glance_conf

_VERSION = re.compile(r'/v\d+/?$')


def check_image_id(image_id):
    """Refuse an id that is not a UUID (a path, a URL...) before any request."""
    if not isinstance(image_id, str) or not uuidutils.is_uuid_like(image_id):
        raise exception.InvalidImageId(image_id=image_id)


class ImageAPI:
    """The Image API of ``[glance]``; ``auth`` (a keystoneauth1 plugin) replaces the
    configured one, e.g. a user's token."""

    def __init__(self, conf, auth=None):
        group = glance_conf.GLANCE_GROUP
        if auth is None:
            auth = ks_loading.load_auth_from_conf_options(conf, group)
        self.session = ks_loading.load_session_from_conf_options(conf, group, auth=auth)
        self.adapter = ks_loading.load_adapter_from_conf_options(
            conf, group, session=self.session, auth=auth)

    def endpoint(self):
        """The Image API's base URL, without a version."""
        try:
            url = self.adapter.get_endpoint()
        except ks_exc.ClientException as e:
            raise exception.ImageServiceUnavailable(reason='%s: %s'
                                                    % (type(e).__name__, e))
        if not url:
            raise exception.ImageServiceUnavailable(
                reason='no endpoint_override, and no "image" endpoint in the catalog')
        return _VERSION.sub('', url.rstrip('/'))

    def url(self, image_id, *rest):
        check_image_id(image_id)
        return '/'.join((self.endpoint(), 'v2', 'images',
                         urllib.parse.quote(image_id, safe='')) + rest)

    def _get(self, url, image_id, **kwargs):
        try:
            resp = self.adapter.get(url, raise_exc=False, **kwargs)
        except ks_exc.ClientException as e:
            raise exception.ImageServiceUnavailable(reason='GET %s: %s: %s'
                                                    % (url, type(e).__name__, e))
        if resp.status_code == 404:
            resp.close()
            raise exception.ImageNotFound(image_id=image_id, endpoint=self.endpoint())
        return resp

    def show(self, image_id):
        """The image's attributes and properties (a dict, as Glance shows them)."""
        url = self.url(image_id)
        resp = self._get(url, image_id)
        if resp.status_code != 200:
            raise exception.ImageServiceUnavailable(
                reason='GET %s answered %d: %s' % (url, resp.status_code,
                                                   resp.text[:200]))
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get('id') != image_id:
            raise exception.ImageServiceUnavailable(
                reason='GET %s answered something that is not image %s' % (url, image_id))
        return body

    def download(self, image_id):
        """``(url, response)``: the image's data as a streaming ``requests`` response
        (200), for the caller to read and close. 204 (no data) and 403 (deactivated)
        are ImageUnacceptable, as Nova makes them."""
        url = self.url(image_id, 'file')
        resp = self._get(url, image_id, stream=True)
        if resp.status_code == 200:
            return url, resp
        resp.close()
        if resp.status_code == 204:
            raise exception.ImageUnacceptable(image_id=image_id,
                                              reason='Image has no associated data')
        if resp.status_code == 403:
            raise exception.ImageUnacceptable(
                image_id=image_id, reason='its data may not be downloaded (403: the '
                                          'image is deactivated, or not yours)')
        raise exception.ImageDownloadFailed(image_id=image_id, url=url,
                                            reason='it answered %d' % resp.status_code)
