#!/usr/bin/env python3
"""The guestfwd command of tools/guest_boot.py: ``guest_relay.py HOST PORT``.

qemu's user-mode network runs it once per guest connection to a guestfwd address, with
that connection as its standard input and output; it relays the bytes to HOST:PORT (the
Neutron-proxy-like forwarder in front of inject-metadata) and the answer back, until
the service closes the connection. Standard library only: it starts once per request.
"""

import os
import select
import socket
import sys

IDLE_SECONDS = 300


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def relay(host, port, guest_in=0, guest_out=1):
    upstream = socket.create_connection((host, int(port)), timeout=30)
    upstream.settimeout(None)
    reading_guest = True
    try:
        while True:
            watched = [upstream] + ([guest_in] if reading_guest else [])
            ready, _, _ = select.select(watched, [], [], IDLE_SECONDS)
            if not ready:
                return 1
            if upstream in ready:
                data = upstream.recv(65536)
                if not data:
                    return 0             # the service is done with this connection
                _write_all(guest_out, data)
            if reading_guest and guest_in in ready:
                data = os.read(guest_in, 65536)
                if data:
                    upstream.sendall(data)
                else:                    # the guest is done sending: let the service know
                    reading_guest = False
                    upstream.shutdown(socket.SHUT_WR)
    finally:
        upstream.close()


if __name__ == '__main__':
    if len(sys.argv) != 3:
        print('usage: guest_relay.py HOST PORT', file=sys.stderr)
        sys.exit(2)
    sys.exit(relay(sys.argv[1], sys.argv[2]))
