"""The answers of dynamic vendordata targets, kept per (instance, target) for as long as
the target's ``Cache-Control`` allows (Nova never cached them, B-6.3: it POSTed to every
target for every ``vendor_data2.json`` and six times per config drive build).

The cache is process-local, thread-safe and bounded (least recently used entries go
first). Keys carry the instance UUID, the target's name and URL and a digest of the
request body: an answer is only ever reused for the same instance asking the same
question, so a rebuild with new user data asks again. Concurrent misses of one key wait
for a single request instead of each sending their own.
"""

import collections
import datetime
import hashlib
import json
import logging
import re
import threading
import time

LOG = logging.getLogger(__name__)

#: Entries kept at most; enough for every instance of a busy host with a few targets.
DEFAULT_MAX_ENTRIES = 4096

#: RFC 9111 section 1.2.2: a delta-seconds too large to represent is taken as 2**31.
DELTA_SECONDS_CEILING = 2 ** 31

# One directive of a Cache-Control value: a token, optionally "=" and a token or a
# quoted string (RFC 9111 section 5.2), up to the comma that ends it.
_DIRECTIVE = re.compile(r'\s*([^\s=,"]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*))?\s*(?:,|$)')
_DELTA_SECONDS = re.compile(r'[0-9]+')


def directives(cache_control):
    """``[(name in lower case, argument or None)]`` of a ``Cache-Control`` value, in
    order. A part that is not a directive (``=5``, an unclosed quote...) is skipped up
    to the next comma: it is treated as absent."""
    found = []
    pos = 0
    text = cache_control or ''
    while pos < len(text):
        match = _DIRECTIVE.match(text, pos)
        if match is None or match.end() == pos:
            comma = text.find(',', pos)
            if comma < 0:
                break
            pos = comma + 1
            continue
        name, argument = match.group(1), match.group(2)
        if argument is not None and argument.startswith('"'):
            argument = re.sub(r'\\(.)', r'\1', argument[1:-1])
        found.append((name.lower(), argument))
        pos = match.end()
    return found


def _delta_seconds(argument):
    """The seconds of a ``max-age`` argument (1*DIGIT), at most
    :data:`DELTA_SECONDS_CEILING`; None when it is not one (``abc``, ``-5``, ``1.5``,
    empty)."""
    if argument is None or not _DELTA_SECONDS.fullmatch(argument):
        return None
    # A huge value is the ceiling (RFC 9111), never arithmetic that overflows later
    # (a timedelta, a datetime) nor int() of thousands of digits (which Python
    # refuses): past ten significant digits the value is above the ceiling anyway.
    if len(argument.lstrip('0')) > 10:
        return DELTA_SECONDS_CEILING
    return min(int(argument), DELTA_SECONDS_CEILING)


def max_age(cache_control, default, maximum):
    """Seconds an answer with this ``Cache-Control`` value may be reused, at most
    ``maximum`` (``[api]vendordata_dynamic_max_cache_age``).

    ``no-store`` and ``no-cache`` give 0 (never reused: we do not revalidate);
    ``s-maxage=N`` gives N, else ``max-age=N`` (s-maxage wins, as for any shared
    cache); with several valid values of one directive the smallest, the most
    restrictive (RFC 9111 section 4.2.1). A directive we cannot parse -- an argument
    that is not 1*DIGIT (``max-age=abc``, ``max-age=-5``, ``max-age=``) or a part
    that is no directive at all -- is treated as absent, so the next rule applies:
    a header without a valid ``s-maxage`` or ``max-age`` (or no header) gives
    ``default``. Whatever the target asks, the result is at most ``maximum``.
    """
    ages = {}
    for name, argument in directives(cache_control):
        if name in ('no-store', 'no-cache'):
            return 0
        if name in ('s-maxage', 'max-age'):
            seconds = _delta_seconds(argument)
            if seconds is not None:
                ages[name] = min(seconds, ages.get(name, seconds))
    seconds = ages.get('s-maxage', ages.get('max-age', default))
    return max(0, min(seconds, maximum))


class AnswerCache:
    """``{key: (value, expires)}`` with LRU eviction and per-key single flight."""

    def __init__(self, max_entries=DEFAULT_MAX_ENTRIES, clock=time.monotonic):
        self.max_entries = max_entries
        self.clock = clock
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()
        self._flights = {}   # key -> Lock held by the thread fetching it

    def __len__(self):
        with self._lock:
            return len(self._entries)

    def get(self, key):
        """``(True, value)`` if a live entry exists, else ``(False, None)``."""
        with self._lock:
            return self._get_locked(key)

    def _get_locked(self, key):
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        value, expires = entry
        if self.clock() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key, value, ttl):
        """Keep ``value`` for ``ttl`` seconds; ``ttl <= 0`` stores nothing (and drops
        an older entry, since the target no longer allows reuse)."""
        with self._lock:
            if ttl <= 0:
                self._entries.pop(key, None)
                return
            self._entries[key] = (value, self.clock() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_fetch(self, key, fetch):
        """The cached value of ``key``, or ``fetch()``'s.

        ``fetch`` returns ``(value, ttl)``; the value is stored for ``ttl`` seconds. Only
        one thread fetches a given key at a time: the others wait for it and then use
        what it stored (or fetch themselves when it stored nothing, e.g. on a failure or
        ``no-store``). An exception from ``fetch`` propagates and stores nothing.
        """
        found, value = self.get(key)
        if found:
            return value
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = [threading.Lock(), 0]
            flight[1] += 1
        try:
            with flight[0]:
                found, value = self.get(key)
                if found:
                    return value
                value, ttl = fetch()
                self.put(key, value, ttl)
                return value
        finally:
            with self._lock:
                flight[1] -= 1
                if flight[1] == 0:
                    self._flights.pop(key, None)

    def forget(self, instance_uuid=None):
        """Drop every entry (or those of one instance)."""
        with self._lock:
            if instance_uuid is None:
                self._entries.clear()
                return
            for key in [k for k in self._entries if k[0] == instance_uuid]:
                del self._entries[key]


class SharedAnswerCache(AnswerCache):
    """An :class:`AnswerCache` whose entries are also kept in the database, so the
    answers one process obtained (inject-api building a config drive) are reused by
    another (inject-metadata serving ``vendor_data2.json``) until they expire: one POST
    per target per build, not one per process.

    ``store`` is an :class:`inject.db.api.Database`. Keys are this module's
    ``(instance uuid, target name, url, body digest)`` tuples; the database keeps the
    answer as JSON with its expiry in wall-clock UTC. An answer the target forbade to
    keep (``no-store``, ``no-cache``) or a failure is never stored. The database is a
    cache here: an error reading or writing it is logged and the target is asked.
    """

    def __init__(self, store, max_entries=DEFAULT_MAX_ENTRIES, clock=time.monotonic,
                 wallclock=None):
        super().__init__(max_entries=max_entries, clock=clock)
        self.store = store
        self.wallclock = wallclock or (lambda: datetime.datetime.now(
            datetime.timezone.utc).replace(tzinfo=None))

    @staticmethod
    def store_key(key):
        return hashlib.sha256('\0'.join(str(k) for k in key[1:]).encode(
            'utf-8')).hexdigest()

    def get_or_fetch(self, key, fetch):
        def shared_fetch():
            found = self._load(key)
            if found is not None:
                return found
            value, ttl = fetch()
            if ttl > 0:
                self._save(key, value, ttl)
            return value, ttl
        return super().get_or_fetch(key, shared_fetch)

    def _load(self, key):
        now = self.wallclock()
        try:
            text = self.store.vendordata_answer_get(key[0], self.store_key(key), now=now)
        except Exception:   # the database is only a cache here
            LOG.exception('Cannot read stored vendordata answers of %s', key[0])
            return None
        if text is None:
            return None
        answer, expires = text
        ttl = (expires - now).total_seconds()
        if ttl <= 0:
            return None
        return json.loads(answer), ttl

    def _save(self, key, value, ttl):
        try:
            expires = self.wallclock() + datetime.timedelta(seconds=ttl)
            self.store.vendordata_answer_put(key[0], self.store_key(key), key[1],
                                             json.dumps(value), expires)
        except Exception:
            LOG.exception('Cannot keep the vendordata answer of %s for %s', key[1],
                          key[0])
