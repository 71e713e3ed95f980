/** Waiting for a promise without ever hanging a test: how it ended, and after how long. */

/** Milliseconds since `start` (a `performance.now()` reading). */
export const elapsedSince = (start: number): number => performance.now() - start;

export type Outcome<T> =
  | { status: 'fulfilled'; value: T; ms: number }
  | { status: 'rejected'; reason: unknown; ms: number }
  | { status: 'pending'; ms: number };

/** Waits for `promise` at most `guardMs`, and says how it ended and when. */
export async function settle<T>(promise: Promise<T>, guardMs = 3_000): Promise<Outcome<T>> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'pending'>((resolve) => {
    timer = setTimeout(resolve, guardMs, 'pending');
  });
  const result = await Promise.race([
    promise.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
    guard,
  ]);
  clearTimeout(timer);
  const ms = elapsedSince(start);
  return result === 'pending' ? { status: 'pending', ms } : { ...result, ms };
}
