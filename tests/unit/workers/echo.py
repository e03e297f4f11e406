"""A worker that only talks: it reads its Start and its jobs through the worker's end of
the channel and says what it got."""

import logging

from inject.appliance import channel

sender, start = channel.worker_end()
print('a stray print')          # must not garble the channel
sender.send(channel.Log(logging.INFO, '%s %d drive(s) %s' % (
    start.driver, len(start.drives), start.jobs)))
jobs = channel.receive_jobs()
sender.send(channel.JobDone(len(jobs) if jobs is not None else -1, None))
sender.send(channel.Shutdown(0.5))
sender.close()
