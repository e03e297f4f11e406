"""Whether a service is up, as Nova's service group API with its database driver
decides it: forced down by an administrator means down; otherwise up while its last
heartbeat (``last_seen_up``, or ``created_at`` when it never reported) is at most
``[DEFAULT]service_down_time`` seconds from the database's time, either way.

The agents write their heartbeats (:mod:`inject.agent.heartbeat`); inject-api reads
them (the services and hypervisors APIs, and the builds it sends a host)."""

import logging

LOG = logging.getLogger(__name__)

#: The binary name of the service a compute host runs (Nova's nova-compute role).
BINARY = 'inject-agent'

_warned = set()


def down_time(conf):
    """``[DEFAULT]service_down_time``, or ``report_interval`` x 2.5 when it is not
    larger than ``report_interval`` (Nova's override; a warning once per pair)."""
    interval, down = conf.report_interval, conf.service_down_time
    if down > interval:
        return down
    fixed = int(interval * 2.5)
    if (interval, down) not in _warned:
        _warned.add((interval, down))
        LOG.warning('Report interval must be less than service down time. Current '
                    'config: <service_down_time: %s, report_interval: %s>. Setting '
                    'service_down_time to: %s', down, interval, fixed)
    return fixed


def seconds_since_heartbeat(service, now):
    """Seconds from the service's last heartbeat (or registration) to ``now``
    (negative when its time is ahead of ``now``)."""
    return (now - (service.last_seen_up or service.created_at)).total_seconds()


def is_up(service, now, conf):
    """Whether ``service`` (a services row) is up at the database time ``now``."""
    if service.forced_down:
        return False
    return abs(seconds_since_heartbeat(service, now)) <= down_time(conf)


def refusal(service, now, conf):
    """Why a build must not be sent to ``service``'s host (down, forced down or
    disabled), or None when it may."""
    what = 'The %s service of host %s' % (service.binary, service.host)
    if service.forced_down:
        return '%s is forced down by an administrator.' % what
    if not is_up(service, now, conf):
        return ('%s is down: its last heartbeat was %d s ago, more than '
                '[DEFAULT]service_down_time (%d s). Start inject-agent on %s (or let '
                'it reach the database again).'
                % (what, seconds_since_heartbeat(service, now), down_time(conf),
                   service.host))
    if service.disabled:
        return '%s is disabled (%s).' % (what, service.disabled_reason or 'no reason given')
    return None
