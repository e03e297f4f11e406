"""What Neutron's metadata agent does in front of Nova's metadata service, for one
instance: forward the guest's request, adding X-Instance-ID, X-Tenant-ID and
X-Instance-ID-Signature (HMAC-SHA256 of the instance id under the shared secret) and
X-Forwarded-For. Used so that unmodified clients (cloud-init) can be the guest."""

import hashlib
import hmac
import http.client
import urllib.parse


class NeutronProxy:

    def __init__(self, upstream, instance_id, tenant_id, secret, address='10.0.0.5'):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.instance_id = instance_id
        self.tenant_id = tenant_id
        self.secret = secret
        self.address = address

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '/')
        if environ.get('QUERY_STRING'):
            path += '?' + environ['QUERY_STRING']
        length = int(environ.get('CONTENT_LENGTH') or 0)
        body = environ['wsgi.input'].read(length) if length else None
        headers = {
            'X-Instance-ID': self.instance_id,
            'X-Tenant-ID': self.tenant_id,
            'X-Instance-ID-Signature': hmac.new(
                self.secret.encode(), self.instance_id.encode(),
                hashlib.sha256).hexdigest(),
            'X-Forwarded-For': self.address,
        }
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                          timeout=30)
        try:
            conn.request(environ['REQUEST_METHOD'], path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            start_response('%d %s' % (resp.status, resp.reason),
                           [(k, v) for k, v in resp.getheaders()
                            if k.lower() in ('content-type', 'content-length')])
            return [data]
        finally:
            conn.close()
