import { isIP } from 'node:net';

/** A subjectAltName entry: RFC 5280 §4.2.1.6 dNSName or iPAddress. */
export type SanEntry = { readonly type: 'dns'; readonly value: string } | { readonly type: 'ip'; readonly value: string };

// RFC 1123 labels; '_' is tolerated because PushProx FQDNs come from real hosts that use it.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function dnsProblem(name: string, allowWildcard: boolean): string | undefined {
  if (name === '') return 'it is empty';
  if (name.length > 253) return `it has ${name.length} characters, more than 253`;
  if (name.endsWith('.')) return 'it ends with a dot (certificates name hosts without the root dot)';
  const labels = name.split('.');
  // RFC 6125 §6.4.3: a wildcard may only be the whole left-most label, and never of a bare TLD.
  if (allowWildcard && labels[0] === '*' && labels.length > 2) labels.shift();
  for (const l of labels) if (!LABEL.test(l)) return `label ${JSON.stringify(l)} is not a valid host name label`;
  return undefined;
}

/**
 * A client's FQDN as a certificate names it: a host name, an IPv4 address or an
 * IPv6 address without brackets. Throws naming what was expected and what arrived.
 */
export function parseHost(input: string): SanEntry {
  if (isIP(input)) return { type: 'ip', value: input };
  const why = dnsProblem(input, false);
  if (why !== undefined) {
    throw new Error(`expected a host name or IP address, got ${JSON.stringify(input.slice(0, 80))}: ${why}`);
  }
  return { type: 'dns', value: input };
}

/** One `--pki.san` entry: `DNS:name`, `IP:addr`, or a bare name/IP (IPs are recognised, IPv6 included). */
export function parseSan(input: string): SanEntry {
  const s = input.trim();
  const m = /^(DNS|IP):(.*)$/i.exec(s);
  const kind = m?.[1]?.toUpperCase();
  const value = m ? m[2]!.trim() : s;
  if (kind === 'IP' || (kind === undefined && isIP(value))) {
    if (!isIP(value)) throw new Error(`expected an IP address after "IP:", got ${JSON.stringify(value)}`);
    return { type: 'ip', value };
  }
  const why = dnsProblem(value, true);
  if (why !== undefined) {
    throw new Error(`expected DNS:name, IP:address or a bare host name/IP, got ${JSON.stringify(s.slice(0, 80))}: ${why}`);
  }
  return { type: 'dns', value };
}

/** A comma-separated `--pki.san` list; at least one entry, duplicates dropped. */
export function parseSanList(input: string): SanEntry[] {
  const parts = input.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new Error('expected a comma-separated list such as "DNS:proxy.example,IP:10.0.0.1", got nothing');
  const out: SanEntry[] = [];
  for (const p of parts) {
    const e = parseSan(p);
    if (!out.some((o) => sameSan(o, e))) out.push(e);
  }
  return out;
}

/** DNS names compare case-insensitively (RFC 4343); IPs by their address bytes. */
export function sameSan(a: SanEntry, b: SanEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'dns') return a.value.toLowerCase() === b.value.toLowerCase();
  return ipBytes(a.value) === ipBytes(b.value);
}

/** Address bytes as hex; `::1` and `0:0:0:0:0:0:0:1` are the same address. */
export function ipBytes(ip: string): string {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number)).toString('hex');
  const [head = '', tail] = ip.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':')).flatMap((g) => (g.includes('.') ? v4Groups(g) : [g]));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.map((g) => g.padStart(4, '0').toLowerCase()).join('');
}

function v4Groups(v4: string): string[] {
  const b = v4.split('.').map(Number);
  return [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
}

export function sanToString(e: SanEntry): string {
  return `${e.type === 'dns' ? 'DNS' : 'IP'}:${e.value}`;
}
