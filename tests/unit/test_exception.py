"""inject.exception: every message is one complete line, even when a caller errs."""

import logging

import pytest

from inject import exception


def test_message_is_formatted_from_the_arguments():
    e = exception.GuestWriteError(path='/etc/motd', reason='write failed: EIO')
    assert str(e) == 'Cannot write /etc/motd in the guest: write failed: EIO.'
    assert e.kwargs == {'path': '/etc/motd', 'reason': 'write failed: EIO'}


def test_an_explicit_message_wins():
    assert str(exception.InvalidRequest('exactly this')) == 'exactly this'


@pytest.mark.parametrize('cls, kwargs, given', [
    (exception.GuestWriteError, {'path': '/x'}, "path='/x'"),                  # KeyError
    (exception.PartitionNotFound, {'image': 'd0', 'partition': 2},
     "image='d0', partition=2"),
    (exception.InjectError, {}, ''),
], ids=['missing reason', 'missing found', 'no arguments'])
def test_missing_arguments_still_give_one_useful_line(cls, kwargs, given, caplog):
    with caplog.at_level(logging.WARNING, logger='inject.exception'):
        e = cls(**kwargs)
    message = str(e)
    assert '\n' not in message
    if given:
        assert message.startswith(cls.msg_fmt.split('%')[0])
        assert message.endswith('[%s]' % given)
        assert cls.__name__ in caplog.text
    else:
        assert message == cls.msg_fmt


class _Numbered(exception.InjectError):
    msg_fmt = 'Drive %(index)d of %(count)d failed'


@pytest.mark.parametrize('kwargs', [
    {'index': 'one', 'count': 2},                  # TypeError: %d of a str
    {'index': 1, 'count': 2, 'extra': 'x\ny'},     # fits (extras are ignored)
])
def test_wrong_types_do_not_crash(kwargs):
    message = str(_Numbered(**kwargs))
    assert '\n' not in message
    if kwargs['index'] == 'one':
        assert message == ("Drive %(index)d of %(count)d failed [count=2, index='one']")
    else:
        assert message == 'Drive 1 of 2 failed'


class _BadFormat(exception.InjectError):
    msg_fmt = 'Broken %(name)s %'


def test_a_broken_format_does_not_crash():               # ValueError: incomplete format
    assert str(_BadFormat(name='n')) == "Broken %(name)s % [name='n']"


def test_arguments_with_newlines_stay_on_one_line():
    message = str(exception.GuestWriteError(reason='line one\nline two'))
    assert '\n' not in message and "reason='line one\\nline two'" in message


def test_hotplug_failed_touched_is_a_constructor_argument():
    untouched = exception.HotplugFailed(what='blockdev-add', reason='cannot open it')
    touched = exception.HotplugFailed(what='device_add', reason='no disk', touched=True)
    assert (untouched.touched, touched.touched) == (False, True)
    assert str(touched) == ('Attaching a disk to a warm appliance failed at device_add: '
                            'no disk. Set [appliance]warm_appliances = 0 if this keeps '
                            'happening.')
    assert 'touched' not in touched.kwargs


@pytest.mark.parametrize('cls, kwargs, message', [
    (exception.GuestReadError, {'path': '/etc/passwd', 'reason': 'it does not exist'},
     'Cannot read /etc/passwd in the guest: it does not exist.'),
    (exception.GuestSyncError, {'target': 'the guest filesystem',
                                'reason': 'umount_all failed: EBUSY'},
     'What was written to the guest filesystem may not have reached the disk: '
     'umount_all failed: EBUSY.'),
])
def test_read_and_sync_errors_say_what_happened(cls, kwargs, message):
    assert str(cls(**kwargs)) == message
    assert isinstance(cls(**kwargs), exception.InjectError)
    assert not isinstance(cls(**kwargs), exception.GuestWriteError)
