"""The report of tools/api_load.py: issue 10's targets, whether each row meets them,
the Markdown table and the notes under it."""

# phase: (req/s at least, p99 ms at most, cost at N servers over cost at 0 at most)
TARGETS = {'limits': (500, 250, 1.3), 'detail': (200, 250, None),
           'create': (100, 250, 1.3)}
OPEN_ACHIEVED = 0.95            # open loop: answered at least this share of --rate


def judge(rows, rate):
    """Fill each row's target and met? from TARGETS and the rows at 0 servers."""
    at_zero = {r['kind']: r for r in rows if r['phase'].endswith('@0')}
    for r in rows:
        r['target'], r['met'] = '-', None
        if r['kind'] == 'open':
            want = OPEN_ACHIEVED * rate
            r['target'] = '>=%g/s achieved of %g/s, 0 err, 0 lost' % (want, rate)
            r['met'] = r['rps'] >= want and r['errors'] == 0 and r['lost'] == 0
            continue
        if r['kind'] not in TARGETS or r['phase'].startswith('seed'):
            continue
        rps, p99, ratio = TARGETS[r['kind']]
        text = ['>=%d/s' % rps, 'p99<=%d' % p99, '0 err']
        met = (r['rps'] >= rps and r['p99_ms'] is not None and r['p99_ms'] <= p99
               and r['errors'] == 0 and not r['lost'])
        zero = at_zero.get(r['kind'])
        if ratio and zero is not None and r is not zero and zero['rps']:
            r['cost_ratio'] = zero['rps'] / r['rps'] if r['rps'] else float('inf')
            # The same cost in inject-api's CPU per request: what other load on the
            # machine changes least (the req/s ratio above is what is judged).
            if r['api_cpu_ms_per_req'] and zero['api_cpu_ms_per_req']:
                r['cpu_cost_ratio'] = (r['api_cpu_ms_per_req']
                                       / zero['api_cpu_ms_per_req'])
            text.append('<=%gx cost@0' % ratio)
            met = met and r['cost_ratio'] <= ratio
        r['target'], r['met'] = ', '.join(text), met


def fmt(value, spec='%.0f'):
    return '-' if value is None else spec % value


def table(rows):
    lines = ['| phase | db | servers | req/s | p50 ms | p99 ms | errors | lost '
             '| api CPU % | api CPU ms/req | target | met? |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        servers = ('%d' % r['servers_before'] if r['servers_after'] == r['servers_before']
                   else '%d->%d' % (r['servers_before'], r['servers_after']))
        lines.append('| %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |' % (
            r['phase'], r['db'], servers, fmt(r['rps'], '%.1f'), fmt(r['p50_ms']),
            fmt(r['p99_ms']), r['errors'], fmt(r['lost'], '%d'),
            fmt(r['api_cpu_pct']), fmt(r['api_cpu_ms_per_req'], '%.1f'), r['target'],
            {None: '-', True: 'yes', False: 'no'}[r['met']]))
    return '\n'.join(lines)


def notes(rows):
    out = []
    for r in rows:
        bits = []
        if r.get('cost_ratio') is not None:
            bits.append('cost ratio to @0 %.2fx' % r['cost_ratio'])
        if r.get('cpu_cost_ratio') is not None:
            bits.append('api CPU per request %.2fx that @0' % r['cpu_cost_ratio'])
        if r['created']:
            bits.append('%d created, builds drained in %ss, %s in ERROR'
                        % (r['created'], r['drain_seconds'], r['build_errors']))
        if r['error_samples']:
            bits.append('errors: %s' % ', '.join('%s x%d' % kv
                                                 for kv in r['error_samples'].items()))
        bits.append('client CPU %.0f%%' % r['client_cpu_pct'])
        if r.get('db_cpu_pct') is not None:
            bits.append('PostgreSQL CPU %.0f%%, %s ms/req' % (
                r['db_cpu_pct'], fmt(r['db_cpu_ms_per_req'], '%.1f')))
        out.append('- %s: %s' % (r['phase'], '; '.join(bits)))
    return '\n'.join(out)

