"""Addresses in server requests: the ``networks`` of a create request, checked as Nova
checks them, and ``accessIPv4``/``accessIPv6``, stored in the form Nova stores (an IPv6
address compressed: ``2001:db8:0:0::1`` becomes ``2001:db8::1``).

inject-api has no networks, no ports and one security group (``default``): ``"auto"``,
``"none"`` and an empty list give a server without addresses; a network or port named
in the list is one that does not exist here, refused with Nova's "could not be found"
rather than dropped silently, and so is any security group but ``default``.
"""

import netaddr
from oslo_utils import uuidutils

from inject.api import faults

_ACCESS = (('accessIPv4', 'access_ip_v4'), ('accessIPv6', 'access_ip_v6'))


def check_networks(networks):
    """A 400 unless ``networks`` (schema-valid, or None) asks for no network at all."""
    if networks is None or isinstance(networks, str):
        return
    ports = []
    for net in networks:
        port = net.get('port')
        if port:
            if port in ports:
                raise faults.BadRequest("Port ID '%s' was specified twice: you cannot "
                                        "attach a port multiple times." % port)
            if net.get('fixed_ip') is not None:
                raise faults.BadRequest(
                    "Specified Fixed IP '%s' cannot be used with port '%s': the two "
                    "cannot be specified together." % (net['fixed_ip'], port))
            ports.append(port)
        elif 'uuid' not in net:
            raise faults.BadRequest("Bad network format: missing 'uuid'")
        elif not uuidutils.is_uuid_like(net['uuid']):
            raise faults.BadRequest('Bad networks format: network uuid is not in proper '
                                    'format (%s)' % net['uuid'])
    for net in networks:
        if net.get('port'):
            raise faults.BadRequest('Port id %s could not be found.' % net['port'])
        raise faults.BadRequest('Network %s could not be found.' % net['uuid'])


def check_security_groups(groups):
    """A 400 for a security group other than ``default``, the one every server here
    is shown in (Nova's answer for a group that does not exist)."""
    for group in groups or []:
        name = group.get('name')
        if name and name != 'default':
            raise faults.BadRequest('Security group %s not found.' % name)


def access_ips(body):
    """``{column: address}`` for the access addresses given in ``body`` (schema-valid),
    normalised as Nova's IP address fields store them."""
    return {column: str(netaddr.IPAddress(body[key]))
            for key, column in _ACCESS if key in body}
