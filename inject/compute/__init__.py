"""What a compute host does for its builds: :mod:`.glance` reads images from the Image
API (Glance, or inject-api serving its image directory the same way) and
:mod:`.imagecache` keeps the verified base images of this host."""
