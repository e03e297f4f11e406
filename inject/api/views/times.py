"""Formatting shared by the views: times as Nova writes them."""


def isotime(value):
    """``2024-01-31T12:00:00Z``, Nova's ``created``/``updated`` format, or None."""
    return value.strftime('%Y-%m-%dT%H:%M:%SZ') if value else None


def isotime_usec(value):
    """``2024-01-31T12:00:00.123456``, as Nova shows usage and action times, or None."""
    return value.isoformat(timespec='microseconds') if value else None
