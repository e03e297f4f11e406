"""Stand-ins for inject.cmd.appliance_worker, run as ``python -m tests.unit.workers.X``
by inject.appliance.run() when a test sets appliance.WORKER_MODULE."""
