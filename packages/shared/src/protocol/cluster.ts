/**
 * The proxy cluster's NATS subjects and headers (docs/protocol.md, "Proxy
 * cluster over NATS"). Upstream PushProx has no cluster: nothing here is seen
 * by an upstream peer. Every subject sits under CLUSTER_SUBJECT_PREFIX so that
 * one NATS permission (`pushprox.cluster.>`) grants a proxy all it needs.
 */

export const CLUSTER_SUBJECT_PREFIX = 'pushprox.cluster';

/** Presence: every proxy publishes the FQDNs it holds here, and listens to all others. */
export const SUBJECT_PRESENCE = `${CLUSTER_SUBJECT_PREFIX}.presence`;

/** A proxy that (re)joins asks here for every peer's full announcement at once. */
export const SUBJECT_HELLO = `${CLUSTER_SUBJECT_PREFIX}.hello`;

/**
 * A push that reached a proxy which did not hand out its Id (a load balancer
 * sent the client's push elsewhere than its poll): the proxy asks here, and
 * only the one that owns the Id answers.
 */
export const SUBJECT_PUSH = `${CLUSTER_SUBJECT_PREFIX}.push`;

/** Forwarded scrapes for one proxy: `pushprox.cluster.fwd.<proxy id>`. */
export function forwardSubject(proxyId: string): string {
  return `${CLUSTER_SUBJECT_PREFIX}.fwd.${proxyId}`;
}

/**
 * Clients on NATS directly (`pushprox-client --nats-url`): the scrapes for an
 * FQDN go to `pushprox.client.<fqdn, lower-case>` (a queue group, so replicas
 * of one client share them); the client's control subjects (acks) are under
 * `pushprox.reply.<fqdn>.`. NATS authorization binds identity: a client's
 * credential may subscribe only to its own FQDN's two subjects.
 */
export const CLIENT_QUEUE = 'pushprox-client';

/** An FQDN usable in a subject: dot-separated labels of letters, digits, `-` and `_`. */
export const SUBJECT_FQDN_PATTERN = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export function clientSubject(fqdn: string): string {
  return `pushprox.client.${fqdn.toLowerCase()}`;
}

export function clientReplyPrefix(fqdn: string): string {
  return `pushprox.reply.${fqdn.toLowerCase()}`;
}

/** A proxy id: one NATS subject token, made fresh at each start. */
export const PROXY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Headers of the forward exchange (NATS message headers, not HTTP). */
export const CLUSTER_HEADERS = Object.freeze({
  /** Open request: the FQDN the scrape is for. */
  fqdn: 'Pushprox-Fqdn',
  /** Open request: the scrape's Id (as in the serialized request). */
  id: 'Pushprox-Id',
  /** Open request: milliseconds the holder has to answer. */
  timeoutMs: 'Pushprox-Timeout-Ms',
  /** Open request: the subject the stream of the answer goes to. */
  stream: 'Pushprox-Stream',
  /** Open reply: the subject the requester sends acks and cancel to. */
  control: 'Pushprox-Control',
  /** Stream message kind: head, data, end, whole, error, raw (a direct client's pushed HTTP bytes); control: ack, cancel. */
  kind: 'Pushprox-Kind',
  /** Stream data: the chunk's sequence number, from 1; ack: the last chunk written. */
  seq: 'Pushprox-Seq',
  /** Whole: the head (JSON) of an answer whose body is the payload, head and end in one message. */
  head: 'Pushprox-Head',
  /** Error: the ERROR_CODES code; the payload is the message. */
  code: 'Pushprox-Code',
});

export type StreamKind = 'head' | 'data' | 'end' | 'whole' | 'raw' | 'error';
export type ControlKind = 'ack' | 'cancel';

/**
 * Flow control of a forwarded body: at most FORWARD_WINDOW chunks of at most
 * FORWARD_CHUNK_BYTES are unacknowledged, so each hop holds at most 1 MiB of
 * one body whatever its size. Well under NATS' default max_payload (1 MB).
 */
export const FORWARD_CHUNK_BYTES = 64 * 1024;
export const FORWARD_WINDOW = 16;

/** Presence messages carry at most this many names, so a message stays far below max_payload. */
export const PRESENCE_BATCH = 2_000;

/**
 * Presence messages are also cut at this many bytes of JSON (client metadata
 * makes an entry up to about 16 KiB): a quarter of NATS' default max_payload
 * (1 MB), so a server configured lower than the default still carries them.
 * One entry always fits (an FQDN of 255 bytes and a 16 KiB metadata value).
 */
export const PRESENCE_MAX_BYTES = 256 * 1024;

/** How a client reaches the proxy holding it, as presence carries it. */
export type PresenceTransport = 'channel' | 'polling' | 'upstream';

/** PresenceMessage.transports: one character per client; `-`: not known. */
export const PRESENCE_TRANSPORT_CODES: Readonly<Record<string, PresenceTransport | undefined>> = Object.freeze({
  c: 'channel',
  p: 'polling',
  u: 'upstream',
  '-': undefined,
});

/** Longest proxy name (PresenceMessage.name) accepted. */
export const PROXY_NAME_MAX_CHARS = 256;

/** A presence message (JSON). `add` announces or refreshes names for `ttlMs`; `del` withdraws them; `bye` withdraws all. */
export interface PresenceMessage {
  readonly v: 1;
  readonly proxy: string;
  readonly kind: 'add' | 'del' | 'bye';
  readonly ttlMs: number;
  readonly fqdns: readonly string[];
  /**
   * `add` only: the names are still registered at the sender, but have no
   * poll or channel waiting there; it refreshes their TTL without making the
   * sender their most recent holder. Default false: they wait there now.
   */
  readonly refresh?: boolean;
  /** A client on NATS directly announces its FQDN: scrapes for it go to clientSubject(fqdn), not to a proxy. */
  readonly direct?: boolean;
  /**
   * `add` only, optional: the distinct X-Pushprox-Client-Meta values (base64url,
   * as the clients sent them) of this message's clients, each once.
   */
  readonly meta?: readonly string[];
  /**
   * `add` only, optional, parallel to `fqdns`: each client's metadata, an
   * index into `meta`, or -1 for none. Absent: no client of the message has any.
   */
  readonly metaOf?: readonly number[];
  /**
   * `add` only, optional, parallel to `fqdns`: each client's transport at the
   * sender, one character each (PRESENCE_TRANSPORT_CODES). A sender that
   * describes its clients always sends it; without it (an older proxy, a
   * direct client) the message names FQDNs only and their clients are listed
   * without labels or modules.
   */
  readonly transports?: string;
  /** Optional: the sender's name for people (host and listen address), shown as "held by". */
  readonly name?: string;
}
