"""The public face of the VFS layer: load the driver, by name, through stevedore."""

from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exception

from inject import exception

NAMESPACE = 'inject.vfs'
DEFAULT_DRIVER = 'guestfs'


def load_driver(name=DEFAULT_DRIVER):
    """Return an instance of the VFS driver ``name`` (entry point in ``inject.vfs``).

    Raises :class:`inject.exception.VFSDriverUnavailable` saying why, when the driver is
    not installed or its library cannot be imported.
    """
    try:
        manager = stevedore_driver.DriverManager(
            namespace=NAMESPACE, name=name, invoke_on_load=True,
            on_load_failure_callback=_reraise)
    except stevedore_exception.NoMatches:
        raise exception.VFSDriverUnavailable(
            reason='no driver named %r in the %s entry-point namespace (is inject '
                   'installed, e.g. pip install -e .?)' % (name, NAMESPACE))
    return manager.driver


def _reraise(manager, entrypoint, error):
    if isinstance(error, exception.InjectError):
        raise error
    raise exception.VFSDriverUnavailable(
        reason='loading %s failed: %s: %s' % (entrypoint.value, type(error).__name__, error))
