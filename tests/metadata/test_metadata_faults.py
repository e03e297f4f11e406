"""inject-metadata killed with SIGKILL under load, then started again: it serves the
same answers. The dynamic vendordata answers it obtained are kept in the database
(inject/db/served.py) before they are served, each in a transaction of its own, so an
answer a guest was given survives the kill whole, and is served again as it was, not
asked of the target anew (whose answer may differ: the test target numbers them)."""

import json
import random
import threading
import time
import uuid

import requests
import sqlalchemy as sa

from inject.db import models
from tests.metadata import service
from tests.metadata import target_app
from tests.metadata.test_metadata_service import signed

INSTANCES = [(str(uuid.UUID(int=i + 1, version=4)), 'project-%d' % (i % 3), 'vm-%d' % i,
              b'#!/bin/sh\necho %d\n' % i, {'i': str(i)}, 'member,reader')
             for i in range(40)]


def _load(url, stop, seen, errors):
    """Ask random instances for vendor_data2.json and meta_data.json until ``stop``;
    every 200 answer goes into ``seen[(uuid, file)]`` (a set of texts)."""
    session = requests.Session()
    rng = random.Random()
    while not stop.is_set():
        uuid_, project = rng.choice(INSTANCES)[:2]
        name = rng.choice(('vendor_data2.json', 'meta_data.json'))
        try:
            r = session.get('%s/openstack/latest/%s' % (url, name),
                            headers=signed(uuid_, project), timeout=30)
        except requests.RequestException:
            errors.append(1)          # the kill
            session = requests.Session()
            time.sleep(0.05)
            continue
        assert r.status_code == 200, r.text
        seen.setdefault((uuid_, name), set()).add(_same(r.text))


def _same(text):
    """What must be the same in every answer: all of it but meta_data.json's
    random_seed (fresh bytes in every answer, as Nova's)."""
    answer = json.loads(text)
    answer.pop('random_seed', None)
    return json.dumps(answer, sort_keys=True)


def test_kill_9_under_load_then_restart_serves_the_same_answers(tmp_path):
    db_url = service.make_database(tmp_path / 'inject-api.sqlite', INSTANCES)
    target = target_app.TargetApp()
    with target_app.serve(target) as target_url:
        conf = service.write_conf(tmp_path / 'inject.conf', db_url, {'api': {
            'vendordata_providers': 'DynamicJSON',
            'vendordata_dynamic_targets': 'vendor@%s/vd?delay=0.02&cache_control='
                                          'max-age%%3D3600' % target_url}})
        seen, errors = {}, []
        with service.running(str(conf)) as (url, proc):
            stop = threading.Event()
            threads = [threading.Thread(target=_load, args=(url, stop, seen, errors))
                       for _ in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while sum(1 for k in seen if k[1] == 'vendor_data2.json') < 20:
                assert time.monotonic() < deadline and not any(
                    not t.is_alive() for t in threads)
                time.sleep(0.05)
            proc.kill()                       # SIGKILL, with requests in flight
            proc.wait(30)
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(60)
        assert errors, 'the kill was not under load'
        posts_before = _posts_by_instance(target)
        served = {key: texts for key, texts in seen.items()}
        # one answer per instance and file before the kill
        assert all(len(texts) == 1 for texts in served.values()), served
        with service.running(str(conf)) as (url, _):
            s = requests.Session()
            for (uuid_, name), [text] in served.items():
                project = next(i[1] for i in INSTANCES if i[0] == uuid_)
                r = s.get('%s/openstack/latest/%s' % (url, name),
                          headers=signed(uuid_, project))
                assert r.status_code == 200 and _same(r.text) == text, (uuid_, name)
            for uuid_, project in ((i[0], i[1]) for i in INSTANCES):
                r = s.get('%s/openstack/latest/vendor_data2.json' % url,
                          headers=signed(uuid_, project))
                assert r.status_code == 200
                assert r.json()['vendor']['seen']['instance-id'] == uuid_
    # an answer served before the kill was never asked again
    posts = _posts_by_instance(target)
    for (uuid_, name) in served:
        if name == 'vendor_data2.json':
            assert posts[uuid_] == 1 and posts_before[uuid_] == 1, uuid_
    # and what the database keeps is whole: valid JSON, one per instance
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as c:
            assert c.exec_driver_sql('PRAGMA integrity_check').scalar() == 'ok'
            rows = c.execute(sa.select(models.VendordataAnswer.instance_uuid,
                                       models.VendordataAnswer.answer)).all()
    finally:
        engine.dispose()
    assert sorted(r[0] for r in rows) == sorted(i[0] for i in INSTANCES)
    for uuid_, answer in rows:
        assert json.loads(answer)['seen']['instance-id'] == uuid_


def _posts_by_instance(target):
    """POSTs the target received whole, by instance (one the kill cut short has no
    JSON body; its answer never reached a guest)."""
    counts = {}
    for request in list(target.requests):
        if not isinstance(request['body'], dict):
            continue
        key = request['body']['instance-id']
        counts[key] = counts.get(key, 0) + 1
    return counts
