"""The appliance worker process, started by :mod:`inject.appliance` as
``python -m inject.cmd.appliance_worker``; not for people to run."""

from inject import appliance

if __name__ == '__main__':
    appliance.worker_main()
