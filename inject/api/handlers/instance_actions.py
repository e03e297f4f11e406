"""GET /servers/{id}/os-instance-actions and .../os-instance-actions/{request_id}.

Each recorded action has one event, the step inject-api ran for it, under Nova's event
name; its result is Success or Error (the server's fault says why).
"""

from inject.api import faults
from inject.api import microversion as mv
from inject.api.handlers import util
from inject.api.views import times

_EVENTS = {'create': 'compute__do_build_and_run_instance',
           'rebuild': 'compute_rebuild_instance',
           'delete': 'compute_terminate_instance'}


def _view(action):
    return {'action': action.action, 'instance_uuid': action.instance_uuid,
            'message': action.message, 'project_id': action.project_id,
            'request_id': action.request_id, 'user_id': action.user_id,
            'start_time': times.isotime_usec(action.start_time)}


def _event(req, action, traceback):
    result = None
    if action.finish_time is not None:
        # A successful build may leave a note in the message (personality files
        # delivered through the config drive / metadata service); only 'Error' fails.
        result = 'Error' if action.message == 'Error' else 'Success'
    event = {'event': _EVENTS.get(action.action, 'compute_%s' % action.action),
             'start_time': times.isotime_usec(action.start_time),
             'finish_time': times.isotime_usec(action.finish_time), 'result': result}
    if traceback:
        event['traceback'] = None
    return event


def index(req, id):
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:os-instance-actions:list', inst.project_id)
    actions = sorted(req.app.db.action_list(inst.uuid), key=lambda a: a.id, reverse=True)
    return 200, {'instanceActions': [_view(a) for a in actions]}


def show(req, id, request_id):
    inst = util.get_instance(req, id)
    req.authorize('os_compute_api:os-instance-actions:show', inst.project_id)
    found = [a for a in req.app.db.action_list(inst.uuid) if a.request_id == request_id]
    if not found:
        raise faults.NotFound('Action for request_id %s on instance %s not found'
                              % (request_id, id))
    body = _view(found[-1])
    # Before 2.51 events are shown only when the "events" rule passes; with it,
    # always, their traceback only when it passes.
    events = req.can('os_compute_api:os-instance-actions:events', inst.project_id)
    if events or req.version >= mv.V2_51:
        body['events'] = [_event(req, found[-1], traceback=events)]
    return 200, {'instanceAction': body}
