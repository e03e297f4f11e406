"""Stand-ins for inject.cmd.appliance_worker, run as ``python -m tests.unit.workers.X``
by inject.appliance.session.run() when a test sets inject.appliance.channel.WORKER_MODULE
(see the worker fixture in tests/unit/appliance/conftest.py)."""
