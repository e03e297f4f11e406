"""A worker that dies at once, before saying anything."""

import os

os._exit(3)
