"""Fixtures of the appliance tests: stand-in worker processes, a stand-in PVH kernel."""

import pathlib

import pytest

from inject.appliance import channel
from inject.appliance import kernel as appliance_kernel
from tests.unit.appliance import base

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def worker(monkeypatch):
    """worker(name): sessions start tests.unit.workers.<name>; returns the Popen objects."""
    monkeypatch.chdir(REPO)
    started = []
    real_start = channel.start_worker

    def start(arguments, **kwargs):
        started.append(real_start(arguments, **kwargs))
        return started[-1]
    monkeypatch.setattr(channel, 'start_worker', start)

    def use(name):
        monkeypatch.setattr(channel, 'WORKER_MODULE', 'tests.unit.workers.' + name)
        return started
    return use


@pytest.fixture
def extracted(monkeypatch):
    """kernel.prepare returns base.KERNEL; the list records its calls."""
    calls = []

    def prepare(cache_dir):
        calls.append(cache_dir)
        return base.KERNEL
    monkeypatch.setattr(appliance_kernel, 'prepare', prepare)
    return calls
