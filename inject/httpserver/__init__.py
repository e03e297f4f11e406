"""The HTTP server inject-api and inject-metadata run in.

waitress parses the requests and runs the WSGI application in its thread pool; what is
inject's: an epoll event loop (:mod:`.loop`) whose turn costs what the connections with
something to do cost, bounds on a request's head checked as it arrives (:mod:`.head`),
the timeouts of a request being sent and of an idle connection, and a connection limit
per process that closes the longest-waiting connection of the busiest client address
rather than stop accepting (:mod:`.server`). A request is handed to a thread only once
its line, headers and body have all arrived: slow or idle clients hold a connection,
never a thread.

    server = httpserver.Server(app, sock, httpserver.Settings.from_conf(conf, max_body),
                               threads=8, name='inject-api')
    server.run()        # until server.stop() (signal-safe), then drains
"""

from inject.httpserver.server import Server  # noqa: F401
from inject.httpserver.server import Settings  # noqa: F401
from inject.httpserver.server import fit_open_files  # noqa: F401
