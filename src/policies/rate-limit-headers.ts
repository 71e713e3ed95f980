/**
 * What a response says of its host's rate limit, read from the header families APIs send, as pure,
 * exported helpers. Checked in this order, and the first family present is the one read:
 *
 * - `RateLimit` / `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): Structured Field lists of
 *   policies, `RateLimit: "default";r=0;t=30` (`r` remaining, `t` seconds to the reset) and
 *   `RateLimit-Policy: "default";q=100;w=60` (`q` quota, `w` window in seconds);
 * - `RateLimit-Remaining` / `RateLimit-Reset` / `RateLimit-Limit` (the draft's earlier fields, delta seconds);
 * - `X-RateLimit-Remaining` / `X-RateLimit-Reset` / `X-RateLimit-Limit` (GitHub and many others): the
 *   reset in epoch seconds when it is a plausible epoch (at least 10^9, as GitHub sends it), else delta seconds;
 * - OpenAI's `x-ratelimit-remaining-requests` / `x-ratelimit-reset-requests` (durations such as `6m0s`,
 *   `1s`, `20ms`), and its `-tokens` pair beside them.
 *
 * A host that sends none costs four `Headers.get()` calls per response. A malformed value (a sign, a
 * unit where none belongs, two values joined by a comma, a policy named twice, a reset further away than
 * a timer can wait) makes the whole response say nothing: what was known of the host stays as it was.
 */
import { maxTimerMs } from '../options/validate.ts';

/** What one response said of its host's rate limit. */
export interface RateLimitHint {
  /** Requests (or units) left in the current window. */
  readonly remaining: number;
  /** Epoch ms when the window resets, if the host said. */
  readonly resetAt: number | undefined;
  /** The quota of the window, if the host said. */
  readonly limit: number | undefined;
  /** The policy the figures are of: its name in `RateLimit`, or `requests` / `tokens` (OpenAI). */
  readonly policy: string | undefined;
  /** The header family it came from. */
  readonly source: 'ratelimit' | 'ratelimit-remaining' | 'x-ratelimit' | 'x-ratelimit-requests';
}

const count = /^\d{1,15}$/;
const seconds = /^\d{1,15}(?:\.\d{1,9})?$/;
/** 10^9 s is September 2001: a reset this large is an epoch, not a delta (GitHub's `X-RateLimit-Reset`). */
const epochFloor = 1e9;

/** A non-negative integer, or undefined. */
export const parseCount = (value: string | null): number | undefined =>
  value !== null && count.test(value.trim()) ? Number(value.trim()) : undefined;

/** Epoch ms of a reset `delayMs` from `now`, when a timer could wait that long; else undefined. */
const resetFrom = (now: number, delayMs: number): number | undefined =>
  delayMs >= 0 && delayMs <= maxTimerMs ? now + delayMs : undefined;

/** A reset in delta seconds (`epoch`: or epoch seconds when at least 10^9) as epoch ms. */
export function parseReset(value: string, now: number, epoch: boolean): number | undefined {
  const text = value.trim();
  if (!seconds.test(text)) return undefined;
  const n = Number(text);
  if (epoch && n >= epochFloor) {
    const at = n * 1_000;
    return at <= now ? now : resetFrom(now, at - now);
  }
  return resetFrom(now, n * 1_000);
}

const durationPattern =
  /^(?:(\d{1,9}(?:\.\d{1,9})?)h)?(?:(\d{1,9}(?:\.\d{1,9})?)m)?(?:(\d{1,9}(?:\.\d{1,9})?)s)?(?:(\d{1,12}(?:\.\d{1,9})?)ms)?$/;

/** A Go-style duration as OpenAI sends it (`6m0s`, `1s`, `20ms`, `1h2m3.5s`) in ms, or undefined. */
export function parseDuration(value: string): number | undefined {
  const text = value.trim();
  const m = text === '' ? null : durationPattern.exec(text);
  if (m === null) return undefined;
  const [, h = '0', min = '0', s = '0', ms = '0'] = m;
  return Number(h) * 3_600_000 + Number(min) * 60_000 + Number(s) * 1_000 + Number(ms);
}

/** One item of a Structured Field list: its bare value and its parameters. */
export interface SfItem {
  readonly value: string;
  readonly params: ReadonlyMap<string, string>;
}

// RFC 9651 pieces: a string, a token, a parameter key, and a bare item as a parameter value.
const sfStringBody = '(?:[^"\\\\]|\\\\["\\\\])*';
const sfToken = "[A-Za-z*][\\w:/!#$%&'*+.^`|~-]*";
const sfKey = '[a-z*][a-z0-9_.*-]*';
const sfBare = `-?\\d+(?:\\.\\d+)?|"${sfStringBody}"|${sfToken}|:[A-Za-z0-9+/=]*:|\\?[01]`;
/** One list member: `"name"` or a token (groups 1, 2), then its parameters (group 3), then `,` or the end. */
const sfItem = new RegExp(
  `^[ \\t]*(?:"(${sfStringBody})"|(${sfToken}))((?:;[ ]*${sfKey}(?:=(?:${sfBare}))?)*)[ \\t]*(?:,|$)`,
);
/** One parameter of a member already matched: its key (group 1) and raw value (group 2). */
const sfParam = new RegExp(`;[ ]*(${sfKey})(?:=("${sfStringBody}"|[^;]*))?`, 'g');

/**
 * A Structured Field list of items with parameters (RFC 9651), as the RateLimit fields use it; undefined
 * when it does not parse. Inner lists are not supported (the RateLimit fields have none).
 */
export function parseSfList(field: string): SfItem[] | undefined {
  const items: SfItem[] = [];
  let rest = field.trim();
  while (rest !== '') {
    const m = sfItem.exec(rest);
    if (m === null || m[0] === '') return undefined;
    const params = new Map<string, string>();
    for (const p of (m[3] ?? '').matchAll(sfParam)) {
      if (params.has(p[1] as string)) return undefined; // a parameter given twice: conflicting
      params.set(p[1] as string, p[2] ?? '?1');
    }
    items.push({ value: (m[1] ?? m[2] ?? '').replace(/\\(["\\])/g, '$1'), params });
    rest = rest.slice(m[0].length);
    if (rest === '' && m[0].trimEnd().endsWith(',')) return undefined; // a trailing comma
  }
  return items;
}

/** The most telling policy of a `RateLimit` list: an exhausted one resetting last, else the lowest. */
function pickPolicy(items: readonly SfItem[]): SfItem | undefined {
  let best: SfItem | undefined;
  for (const item of items) {
    const r = Number(item.params.get('r'));
    if (best === undefined) best = item;
    else {
      const bestR = Number(best.params.get('r'));
      const t = Number(item.params.get('t') ?? 0);
      if (r < bestR || (r === 0 && bestR === 0 && t > Number(best.params.get('t') ?? 0))) best = item;
    }
  }
  return best;
}

/** `RateLimit` (and `RateLimit-Policy` for the quota), the IETF draft's form. */
export function fromRateLimitField(
  field: string,
  policyField: string | null,
  now: number,
): RateLimitHint | undefined {
  const items = parseSfList(field);
  if (items === undefined || items.length === 0) return undefined;
  const names = new Set<string>();
  for (const item of items) {
    if (names.has(item.value)) return undefined; // one policy said twice: conflicting
    names.add(item.value);
    const r = item.params.get('r');
    const t = item.params.get('t');
    if (r === undefined || !count.test(r)) return undefined;
    if (t !== undefined && (!count.test(t) || resetFrom(now, Number(t) * 1_000) === undefined))
      return undefined;
  }
  const chosen = pickPolicy(items) as SfItem;
  const t = chosen.params.get('t');
  const quota = policyField === null ? undefined : quotaOf(policyField, chosen.value);
  return {
    remaining: Number(chosen.params.get('r')),
    resetAt: t === undefined ? undefined : now + Number(t) * 1_000,
    limit: quota,
    policy: chosen.value,
    source: 'ratelimit',
  };
}

/** The quota `q` of policy `name` in a `RateLimit-Policy` field, if it says. */
function quotaOf(field: string, name: string): number | undefined {
  const q = parseSfList(field)
    ?.find((item) => item.value === name)
    ?.params.get('q');
  return q !== undefined && count.test(q) ? Number(q) : undefined;
}

/** A remaining / reset / limit trio of one family; undefined when any value present is malformed. */
function fromTrio(
  source: RateLimitHint['source'],
  remaining: string,
  reset: string | null,
  limit: string | null,
  parse: (value: string) => number | undefined,
): RateLimitHint | undefined {
  const left = parseCount(remaining);
  const resetAt = reset === null ? undefined : parse(reset);
  if (left === undefined || (reset !== null && resetAt === undefined)) return undefined;
  return { remaining: left, resetAt, limit: parseCount(limit), policy: undefined, source };
}

/** OpenAI's requests and tokens pairs: exhausted when either is, until the later of their resets. */
function fromOpenAi(headers: Headers, requests: string, now: number): RateLimitHint | undefined {
  const parse = (value: string) => {
    const ms = parseDuration(value);
    return ms === undefined ? undefined : resetFrom(now, ms);
  };
  const byRequests = fromTrio(
    'x-ratelimit-requests',
    requests,
    headers.get('x-ratelimit-reset-requests'),
    headers.get('x-ratelimit-limit-requests'),
    parse,
  );
  if (byRequests === undefined) return undefined;
  const tokens = headers.get('x-ratelimit-remaining-tokens');
  const byTokens =
    tokens === null
      ? undefined
      : fromTrio('x-ratelimit-requests', tokens, headers.get('x-ratelimit-reset-tokens'), null, parse);
  if (
    byTokens?.remaining === 0 &&
    (byRequests.remaining > 0 || (byTokens.resetAt ?? 0) > (byRequests.resetAt ?? 0))
  ) {
    return { ...byTokens, limit: undefined, policy: 'tokens' };
  }
  return { ...byRequests, policy: 'requests' };
}

/**
 * What `headers` say of the host's rate limit, from the first family present (see the top of this
 * file); undefined when they say nothing or say it malformed.
 */
export function readRateLimit(headers: Headers, now = Date.now()): RateLimitHint | undefined {
  const ietf = headers.get('ratelimit');
  if (ietf !== null) return fromRateLimitField(ietf, headers.get('ratelimit-policy'), now);
  const draft = headers.get('ratelimit-remaining');
  if (draft !== null) {
    const reset = (value: string) => parseReset(value, now, false);
    return fromTrio(
      'ratelimit-remaining',
      draft,
      headers.get('ratelimit-reset'),
      headers.get('ratelimit-limit'),
      reset,
    );
  }
  const x = headers.get('x-ratelimit-remaining');
  if (x !== null) {
    const reset = (value: string) => parseReset(value, now, true);
    return fromTrio(
      'x-ratelimit',
      x,
      headers.get('x-ratelimit-reset'),
      headers.get('x-ratelimit-limit'),
      reset,
    );
  }
  const requests = headers.get('x-ratelimit-remaining-requests');
  return requests === null ? undefined : fromOpenAi(headers, requests, now);
}
