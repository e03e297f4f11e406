"""What the driver and the root finder both do with a raw libguestfs handle.

libguestfs raises ``RuntimeError`` whose text is the whole story (``call: path:
strerror``); these helpers turn it into message text, and unmount or close a handle
without letting a second failure hide the first.
"""

import logging

LOG = logging.getLogger(__name__)


def error_text(error):
    """The text of a libguestfs error (or any text), folded onto one line for a message.

    libguestfs passes on what the appliance's tools printed, several lines at times
    (``mount``'s "dmesg(1) may have more information" on a second line, the launch
    failure's advice): each line is stripped and they are joined with a space.
    """
    return ' '.join(line.strip() for line in str(error).splitlines() if line.strip())


def umount_all(g):
    """Unmount everything in the appliance; a failure is only logged."""
    try:
        g.umount_all()
    except RuntimeError as e:
        LOG.warning('umount_all failed: %s', error_text(e))


def close(g):
    """Close the handle (stopping its appliance); never raises."""
    try:
        g.close()
    except Exception as e:  # close must never hide the real error
        LOG.warning('Failed to close the guestfs handle: %s', e)
