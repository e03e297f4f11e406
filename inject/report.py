"""The report every injection call returns: what was asked, what happened, how long."""

import dataclasses
import json

INJECTED = 'injected'
SKIPPED = 'skipped'
FAILED = 'failed'


@dataclasses.dataclass
class ItemResult:
    """One requested item: ``kind`` is file, key, net, metadata or admin_password."""
    kind: str
    target: str
    status: str = None
    reason: str = None
    mode: str = None      # octal text, e.g. '0644', as found in the guest after writing
    uid: int = None
    gid: int = None
    size: int = None
    notes: list = dataclasses.field(default_factory=list)

    def fail(self, reason):
        self.status, self.reason = FAILED, reason

    def take(self, written):
        """Take what the appliance's worker reported of this item (``written``, an
        ItemResult): every field, its notes added to those this one has."""
        for field in dataclasses.fields(self):
            value = getattr(written, field.name)
            if field.name == 'notes':
                self.notes.extend(value)
            else:
                setattr(self, field.name, value)

    def to_dict(self):
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None and v != []}


@dataclasses.dataclass
class Report:
    image: str
    format: str
    partition_requested: int = None
    mountpoints: list = dataclasses.field(default_factory=list)   # [[mountpoint, device]]
    # 'partition N', 'whole disk', 'root probe', 'inspection' or 'remembered layout'
    root_found_by: str = None
    accelerator: str = None
    # which appliance worked on this disk: unique per appliance launch on this host,
    # shared by the disks of one appliance (never two projects')
    appliance: str = None
    items: list = dataclasses.field(default_factory=list)
    error: str = None          # why the disk as a whole was not injected, if it was not
    committed: bool = False    # whether anything reached the disk
    notes: list = dataclasses.field(default_factory=list)
    timings: dict = dataclasses.field(default_factory=dict)
    request_id: str = None

    @property
    def ok(self):
        """True when every requested item was injected (and nothing failed as a whole)."""
        return self.error is None and all(item.status == INJECTED for item in self.items)

    @property
    def partition_used(self):
        return self.mountpoints[0][1] if self.mountpoints else None

    def fail_all(self, reason, only_pending=False):
        """Mark items failed; with ``only_pending``, only those not yet decided."""
        for item in self.items:
            if not only_pending or item.status is None:
                item.fail(reason)

    def reason(self):
        """One line saying why the report is not ok (None when it is)."""
        if self.ok:
            return None
        if self.error:
            return self.error
        for item in self.items:
            if item.status != INJECTED:
                return '%s %s: %s: %s' % (item.kind, item.target, item.status, item.reason)
        return None

    def to_dict(self):
        return {
            'image': self.image,
            'format': self.format,
            'partition_requested': self.partition_requested,
            'partition_used': self.partition_used,
            'mountpoints': [list(m) for m in self.mountpoints],
            'root_found_by': self.root_found_by,
            'accelerator': self.accelerator,
            'appliance': self.appliance,
            'ok': self.ok,
            'committed': self.committed,
            'error': self.error,
            'items': [item.to_dict() for item in self.items],
            'notes': list(self.notes),
            'timings': {k: round(v, 3) for k, v in self.timings.items()},
            'request_id': self.request_id,
        }

    @classmethod
    def from_dict(cls, data):
        """The report :meth:`to_dict` described (as an agent's RPC reply carries it)."""
        fields = {f.name for f in dataclasses.fields(ItemResult)}
        report = cls(image=data.get('image'), format=data.get('format'),
                     partition_requested=data.get('partition_requested'),
                     mountpoints=[list(m) for m in data.get('mountpoints') or ()],
                     root_found_by=data.get('root_found_by'),
                     accelerator=data.get('accelerator'), error=data.get('error'),
                     appliance=data.get('appliance'),
                     committed=bool(data.get('committed')),
                     notes=list(data.get('notes') or ()),
                     timings=dict(data.get('timings') or {}),
                     request_id=data.get('request_id'))
        report.items = [ItemResult(**{k: v for k, v in item.items() if k in fields})
                        for item in data.get('items') or ()]
        return report

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    def format_text(self):
        """A human-readable rendering for the CLI."""
        lines = ['image:       %s (%s)' % (self.image, self.format),
                 'partition:   requested %s, used %s%s' % (
                     self.partition_requested, self.partition_used or '-',
                     ' (%s)' % self.root_found_by if self.root_found_by else '')]
        if len(self.mountpoints) > 1:
            lines.append('mounted:     ' + ', '.join('%s on %s' % (m, d)
                                                     for m, d in self.mountpoints))
        lines.append('accelerator: %s' % (self.accelerator or '- (no appliance launched)'))
        for item in self.items:
            detail = ''
            if item.status == INJECTED and item.mode:
                detail = ' (%s uid=%s gid=%s %d bytes)' % (item.mode, item.uid, item.gid,
                                                           item.size)
            line = '  %-8s %-14s %s%s' % (item.status, item.kind, item.target, detail)
            if item.reason:
                line += ': ' + item.reason
            lines.append(line)
            lines.extend('           note: ' + note for note in item.notes)
        lines.extend('note:        ' + note for note in self.notes)
        if self.error:
            lines.append('error:       ' + self.error)
        lines.append('disk:        %s' % ('changed' if self.committed else 'unchanged'))
        lines.append('timings:     ' + ', '.join('%s %.2f s' % (k, v)
                                                 for k, v in self.timings.items()))
        return '\n'.join(lines)
