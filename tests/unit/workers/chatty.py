"""A worker that never launches but keeps sending log messages, as a stuck appliance
printing its console would."""

import logging
import os
import sys
import time
from multiprocessing import connection

sys.stdin.buffer.read()
sender = connection.Connection(os.dup(1), readable=False)
while True:
    sender.send(('log', logging.DEBUG, 'still booting'))
    time.sleep(0.05)
