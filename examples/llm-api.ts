/**
 * An LLM API as resilientFetch sees it: a local stand-in for a chat-completions endpoint that answers the
 * way OpenAI-style APIs do, and one resilientFetch configured for it.
 *
 *   node examples/llm-api.ts
 *
 * The stand-in (127.0.0.1, a port the OS picks) allows 2 requests per 1.5 s window and says so in
 * OpenAI's headers (`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests: 1.5s`); a request
 * over the limit gets a 429. Its first POST is a 503 with `retry-after-ms: 250`, and a request carrying
 * `x-fail: final` gets a 503 with `x-should-retry: false`. Answers stream as server-sent events.
 *
 * What it prints: the first call retried after 250 ms with the same Idempotency-Key on both attempts;
 * once the host said no request remains, the next calls (two of them at once) paced to the window's reset
 * instead of collecting 429s (the server counts none); each stream read chunk by chunk; the 503 not
 * retried; `stats().hosts[host].rateLimit`, what the host said last.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// In an app: import { createResilientFetch } from 'resilient-fetch';
import { createResilientFetch } from '../src/index.ts';

const limit = 2;
const windowMs = 1_500;
let windowEnds = 0;
let used = 0;
let posts = 0;
let tooMany = 0;
const keys: string[] = [];

/** The window's remaining requests and reset, in OpenAI's words. */
function rateHeaders(now: number): Record<string, string> {
  const resetMs = Math.max(0, windowEnds - now);
  return {
    'x-ratelimit-limit-requests': String(limit),
    'x-ratelimit-remaining-requests': String(Math.max(0, limit - used)),
    'x-ratelimit-reset-requests': `${(resetMs / 1_000).toFixed(3)}s`,
  };
}

function stream(res: ServerResponse, headers: Record<string, string>, words: string[]): void {
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
  let i = 0;
  const timer = setInterval(() => {
    const word = words[i++];
    if (word === undefined) {
      res.end('data: [DONE]\n\n');
      clearInterval(timer);
      return;
    }
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: word } }] })}\n\n`);
  }, 20);
}

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const now = Date.now();
    if (now >= windowEnds) {
      windowEnds = now + windowMs;
      used = 0;
    }
    keys.push(String(req.headers['idempotency-key']));
    if (++posts === 1) {
      res.writeHead(503, { 'retry-after-ms': '250', ...rateHeaders(now) }).end('overloaded');
      return;
    }
    if (used >= limit) {
      tooMany++;
      res.writeHead(429, rateHeaders(now)).end('rate limited');
      return;
    }
    used++;
    if (req.headers['x-fail'] === 'final') {
      res.writeHead(503, { 'x-should-retry': 'false', ...rateHeaders(now) }).end('overloaded: do not retry');
      return;
    }
    stream(res, rateHeaders(now), ['Hello', ' from', ' the', ' model.']);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const host = `127.0.0.1:${port}`;
const url = `http://${host}/v1/chat/completions`;

await using rfetch = createResilientFetch({
  hosts: {
    [host]: {
      timeout: { attemptMs: 120_000, deadlineMs: 300_000 },
      pool: { bodyTimeoutMs: 120_000 },
      retry: { maxRetries: 2, idempotencyKey: 'auto' },
      rateLimit: { maxWaitMs: 20_000 },
    },
  },
});

const started = Date.now();
const ask = async (label: string, extra: Record<string, string> = {}): Promise<void> => {
  const res = await rfetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ model: 'stand-in', stream: true, messages: [{ role: 'user', content: label }] }),
  });
  let text = '';
  if (res.ok && res.body) {
    for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
      for (const line of chunk.split('\n')) {
        if (!line.startsWith('data: {')) continue;
        text += (JSON.parse(line.slice(6)) as { choices: [{ delta: { content: string } }] }).choices[0].delta
          .content;
      }
    }
  } else text = await res.text();
  console.log(
    `${String(Date.now() - started).padStart(5)} ms  ${label}: ${res.status} ${JSON.stringify(text)}`,
  );
};

await ask('call 1 (503 with retry-after-ms: 250, then retried)');
console.log(`         the two attempts sent Idempotency-Key ${keys[0]} and ${keys[1]}`);
await ask('call 2 (the last request of the window: the host says 0 remain)');
await Promise.all([ask('call 3 (paced until the reset)'), ask('call 4 (paced until the reset)')]);
await ask('call 5 (paced, then a 503 with x-should-retry: false: not retried)', { 'x-fail': 'final' });
console.log(`requests the server got: ${posts}; 429s it sent: ${tooMany}`);
console.log('what the host said last:', rfetch.stats().hosts[host]?.rateLimit);
server.close();
