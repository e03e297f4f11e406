"""A worker that never launches but keeps sending log messages, as a stuck appliance
printing its console would."""

import logging
import os
import sys
import time
from multiprocessing import connection

from inject.appliance import channel

sys.stdin.buffer.read()
sender = connection.Connection(os.dup(1), readable=False)
while True:
    sender.send(channel.Log(logging.DEBUG, 'still booting'))
    time.sleep(0.05)
