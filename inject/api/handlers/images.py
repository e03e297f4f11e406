"""Images: the Compute proxy (``/images``, gone from 2.36 as in Nova) and the
Glance-style Image API that ``nova boot --image`` reaches when the image endpoint is
overridden to inject-api, and that compute hosts fetch base images through:
``/v2/images`` (list, filters), ``/v2/images/{id}`` (with the image's properties and
checksums) and ``/v2/images/{id}/file`` (the data, streamed, with Content-Length and
Glance's Content-MD5; a Range gives 206)."""

import os

import webob
from webob import static

from inject.api import catalog
from inject.api import faults
from inject.api import microversion as mv


def _image_dir(req):
    return req.app.conf.api.image_dir


def _proxy_check(req):
    if req.version >= mv.V2_36:
        raise faults.NotFound('The resource could not be found.')


def _links(req, image):
    links = req.links('images', image.id)
    links.append({'rel': 'alternate', 'type': 'application/vnd.openstack.image',
                  'href': '%s/images/%s' % (req.base_url(), image.id)})
    return links


# Nova's proxy shows Glance's statuses so.
_PROXY_STATUS = {catalog.ACTIVE: 'ACTIVE', catalog.KILLED: 'ERROR'}


def _view(req, image, detail):
    body = {'id': image.id, 'name': image.name, 'links': _links(req, image)}
    if detail:
        body.update({'status': _PROXY_STATUS[image.status], 'progress': 100,
                     'minDisk': 0, 'minRam': 0, 'metadata': dict(image.properties),
                     'created': image.created,
                     'updated': image.created, 'OS-EXT-IMG-SIZE:size': image.size})
    return body


def _find(req, id, message):
    """The image with id ``id`` (never a name), or a 404 with ``message``."""
    image = catalog.image(_image_dir(req), id)
    if image is None:
        raise faults.NotFound(message)
    return image


def index(req):
    _proxy_check(req)
    return 200, {'images': [_view(req, i, False) for i in catalog.images(_image_dir(req))]}


def detail(req):
    _proxy_check(req)
    return 200, {'images': [_view(req, i, True) for i in catalog.images(_image_dir(req))]}


def show(req, id):
    _proxy_check(req)
    return 200, {'image': _view(req, _find(req, id, 'Image not found.'), True)}


def _glance_view(req, image):
    """The image as Glance shows it: its extra properties at the top, then its
    attributes."""
    body = dict(image.properties)
    body.update(image.hashes())
    body.update({
        'id': image.id, 'name': image.name, 'status': image.status,
        'visibility': 'public', 'protected': False, 'os_hidden': False,
        'disk_format': image.format, 'container_format': 'bare',
        'size': image.size, 'virtual_size': None, 'min_disk': 0, 'min_ram': 0,
        'owner': None, 'tags': [],
        'created_at': image.created, 'updated_at': image.created,
        'self': '/v2/images/%s' % image.id, 'file': '/v2/images/%s/file' % image.id,
        'schema': '/v2/schemas/image'})
    return body


def glance_index(req):
    found = catalog.images(_image_dir(req))
    name = req.GET.get('name')
    if name is not None:
        found = [i for i in found if i.name == name]
    if 'id' in req.GET:
        wanted = req.GET['id'].split(':', 1)[-1].split(',')
        found = [i for i in found if i.id in wanted]
    if 'names' in req.GET:
        wanted = req.GET['names'].split(':', 1)[-1].split(',')
        found = [i for i in found if i.name in wanted]
    return 200, {'images': [_glance_view(req, i) for i in found],
                 'first': '/v2/images', 'schema': '/v2/schemas/images'}


def glance_show(req, id):
    return 200, _glance_view(req, _find(req, id, 'No image found with ID %s' % id))


def glance_file(req, id):
    """The image's data as Glance serves it: 200 with ``Content-Length`` and
    ``Content-MD5`` (its checksum), 206 for a ``Range``; 204 for an image that has no
    usable data (status killed: its sidecar is broken)."""
    image = _find(req, id, 'No image found with ID %s' % id)
    if image.status != catalog.ACTIVE:
        return 204, None
    checksum = image.hashes()['checksum']
    data = open(image.path, 'rb')
    try:
        size = os.fstat(data.fileno()).st_size
        resp = webob.Response(status=200, content_type='application/octet-stream',
                              conditional_response=True)
        resp.charset = None
        resp.app_iter = static.FileIter(data)
        resp.content_length = size
        resp.accept_ranges = 'bytes'
    except BaseException:
        data.close()
        raise
    if checksum:
        resp.headers['Content-MD5'] = checksum
    return resp
