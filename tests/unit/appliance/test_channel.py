"""The pipe to the worker process: what goes in on its stdin, what comes back."""

import logging
import signal

from inject.appliance import accelerator as accel
from inject.appliance import channel
from inject.vfs import api
from tests.unit.appliance.base import settings


def test_start_of_settings(tmp_path):
    s = settings(tmp_path, debug=True)
    launching = accel.launch_settings(s, 'tcg')
    drives = [api.Drive('/d0.qcow2', 'qcow2')]
    start = channel.Start.of(s, drives, launching, None)
    assert start == channel.Start('guestfs', drives, launching, None, logging.DEBUG)
    assert channel.Start.of(settings(tmp_path), [], launching, []).log_level == logging.INFO


def talk(tmp_path, jobs):
    s = settings(tmp_path)
    proc = channel.start_worker(channel.Start.of(
        s, [api.Drive('/d0.qcow2', 'qcow2')], accel.launch_settings(s, 'tcg'), None),
        keep_stdin=True)
    receiver = channel.receiver_of(proc)
    heard = [receiver.recv()]
    channel.send_jobs(proc, jobs)
    heard += [receiver.recv(), receiver.recv()]
    receiver.close()
    assert proc.wait(10) == 0
    return heard


def test_messages_cross_the_pipe_both_ways(tmp_path, worker):
    worker('echo')
    assert talk(tmp_path, ['job a', 'job b']) == [
        channel.Log(logging.INFO, 'guestfs 1 drive(s) None'),
        channel.JobDone(2, None), channel.Shutdown(0.5, None)]


def test_no_jobs_tells_a_warm_worker_to_shut_down(tmp_path, worker):
    worker('echo')
    assert talk(tmp_path, None)[1] == channel.JobDone(-1, None)


def test_a_gone_worker_is_not_an_error_to_write_to(tmp_path, worker):
    started = worker('die')
    s = settings(tmp_path)
    proc = channel.start_worker(channel.Start.of(s, [], accel.launch_settings(s, 'tcg'),
                                                 None), keep_stdin=True)
    assert started == [proc] and proc.wait(10) == 3
    channel.send_jobs(proc, ['job'])             # its stdin is a broken pipe now
    channel.send_jobs(proc, ['job'])             # and then closed
    channel.kill(proc)                           # its group is gone too
    assert proc.returncode == 3


def test_kill_ends_the_worker(tmp_path, worker):
    worker('hang')
    s = settings(tmp_path)
    proc = channel.start_worker(channel.Start.of(s, [], accel.launch_settings(s, 'tcg'),
                                                 []))
    channel.kill(proc)
    assert proc.returncode == -signal.SIGKILL
