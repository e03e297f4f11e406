"""The appliance worker process, started by :mod:`inject.appliance.channel` as
``python -m inject.cmd.appliance_worker``; not for people to run."""

from inject.appliance import worker

if __name__ == '__main__':
    worker.worker_main()
