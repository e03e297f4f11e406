"""inject: puts data into a new server's disk through libguestfs, never through a host mount.

The tree reads in the direction data flows: a request (``request``) names a disk image
(``image``) and what to write; the manager (``manager``) checks the image, wraps it in an
overlay and hands it to an appliance worker (``appliance``), which mounts the guest
filesystem through a VFS driver (``vfs``) and applies the items (``injection``) at paths
normalised by ``paths``; every call ends in a ``report``.
"""
