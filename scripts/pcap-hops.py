#!/usr/bin/env python3
"""Where a relayed scrape's time goes, hop by hop, from a loopback packet capture.

During `npm run bench -- --only=prom-rate --upstream=DIR` (ours and upstream side by side):

    tcpdump -i lo -s 400 -w /tmp/cap.pcap 'tcp port OURS or tcp port UPSTREAM or tcp port EXPORTER' &
    ss -tnpH state established > /tmp/ss.txt     # while the capture runs: who owns each connection
    python3 scripts/pcap-hops.py /tmp/cap.pcap /tmp/ss.txt OURS UPSTREAM EXPORTER

OURS and UPSTREAM are the two proxies' ports, EXPORTER the bench exporter's. Each scrape is
followed from Prometheus' request into a proxy to the first packet of its answer, through
the client (ours: `pushprox-client.js`; upstream: a `pushprox-client` binary), and medians,
p90 and p99 of each hop are printed in ms. Upstream's client polls again before it pushes,
so its two last hops are best read summed.
"""
import collections
import re
import statistics
import struct
import sys

pcap, ss_file, ours, upstream, exporter = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
PROXIES = {ours: 'ours', upstream: 'upstream'}

owner = {}
for line in open(ss_file):
    m = re.search(r'(\S+):(\d+)\s+(\S+):(\d+)\s+users:\(\("(\S+?)",pid=(\d+)', line)
    if m:
        owner[(m[1], int(m[2]))] = int(m[6])
procs = {}


def who(ip, port):
    """(kind, fqdn) of the process owning a local endpoint: ours, upstream, prom or None."""
    pid = owner.get((ip, port))
    if pid is None:
        return None
    if pid not in procs:
        try:
            cmd = open(f'/proc/{pid}/cmdline').read().replace('\0', ' ')
        except OSError:
            cmd = ''
        kind = 'ours' if 'pushprox-client.js' in cmd else 'upstream' if 'pushprox-client' in cmd else 'prom' if 'prometheus' in cmd else None
        m = re.search(r'--fqdn=(\S+)', cmd)
        procs[pid] = (kind, m[1] if m else None)
    return procs[pid]


events = collections.defaultdict(list)
target_of = {}
f = open(pcap, 'rb')
f.read(24)
while True:
    h = f.read(16)
    if len(h) < 16:
        break
    ts, tu, incl, _ = struct.unpack('<IIII', h)
    d = f.read(incl)[14:]
    ihl = (d[0] & 15) * 4
    src, dst = '.'.join(map(str, d[12:16])), '.'.join(map(str, d[16:20]))
    tcp = d[ihl:]
    sp, dp = struct.unpack('>HH', tcp[:4])
    payload = tcp[(tcp[12] >> 4) * 4:]
    if not payload:
        continue
    t = ts + tu / 1e6
    if dp in PROXIES:
        o = who(src, sp)
        if o and o[0] == 'prom':
            m = re.match(rb'GET http://([\d.]+):', payload)
            if m:
                target_of[(src, sp)] = m[1].decode()
                events[(PROXIES[dp], m[1].decode())].append((t, 1))
        elif o and o[0] == PROXIES[dp]:
            events[(o[0], o[1])].append((t, 5))
    elif sp in PROXIES:
        o = who(dst, dp)
        if o and o[0] == 'prom' and (dst, dp) in target_of:
            events[(PROXIES[sp], target_of[(dst, dp)])].append((t, 6))
        elif o and o[0] == PROXIES[sp]:
            events[(o[0], o[1])].append((t, 2))
    elif dp == exporter or sp == exporter:
        o = who(src, sp) if dp == exporter else who(dst, dp)
        if o and o[0] in ('ours', 'upstream'):
            events[(o[0], o[1])].append((t, 3 if dp == exporter else 4))

LABELS = ['whole: request in -> answer out', 'proxy: request in -> to the client', 'client: request in -> GET out',
          'exporter: GET in -> answer out', 'client: answer in -> push out', 'proxy: push in -> answer out']
hops = {k: collections.defaultdict(list) for k in ('ours', 'upstream')}
for (kind, _), evs in events.items():
    evs.sort()
    i = 0
    while i < len(evs):
        if evs[i][1] != 1:
            i += 1
            continue
        first = {}
        j = i + 1
        while j < len(evs) and evs[j][1] != 1:
            first.setdefault(evs[j][1], evs[j][0])
            j += 1
        if all(k in first for k in (2, 3, 4, 5, 6)):
            seq = [evs[i][0]] + [first[k] for k in (2, 3, 4, 5, 6)]
            for a in range(1, 6):
                hops[kind][a].append((seq[a] - seq[a - 1]) * 1000)
            hops[kind][0].append((seq[5] - seq[0]) * 1000)
        i = j
for kind, h in hops.items():
    print(f'{kind}: {len(h[0])} scrapes')
    for a, label in enumerate(LABELS):
        xs = sorted(h[a])
        if xs:
            print(f'  {label:40s} p50 {statistics.median(xs):.3f}  p90 {xs[int(len(xs) * .9)]:.3f}  p99 {xs[int(len(xs) * .99)]:.3f}')
