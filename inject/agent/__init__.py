"""The compute-side injection agent: public face.

``AgentClient(conf).inject(host, request)`` asks the agent on ``host`` (over
oslo.messaging RPC) to inject; ``start_in_process(conf)`` runs an agent inside the
caller's process with a client bound to it, needing no broker.
"""

from inject.agent.rpcapi import AgentClient
from inject.agent.service import AgentService
from inject.agent.service import start_in_process

__all__ = ['AgentClient', 'AgentService', 'start_in_process']
