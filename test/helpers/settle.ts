/** Waiting for a promise without a throw: how it ended, and after how long. */

/** Milliseconds since `start` (a `performance.now()` reading). */
export const elapsedSince = (start: number): number => performance.now() - start;

/** How a promise ended (the shape of `Promise.allSettled`), and `ms` after `settle()` began waiting. */
export type Settled<T> =
  | { status: 'fulfilled'; value: T; ms: number }
  | { status: 'rejected'; reason: unknown; ms: number };

/** A `Settled`, or `pending` when the guard ran out first. */
export type Outcome<T> = Settled<T> | { status: 'pending'; ms: number };

/** Waits for `promise`, and says how it ended and when. */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>>;
/** Waits for `promise` at most `guardMs`, and says how it ended (or that it had not yet) and when. */
export function settle<T>(promise: Promise<T>, guardMs: number): Promise<Outcome<T>>;
export async function settle<T>(promise: Promise<T>, guardMs?: number): Promise<Outcome<T>> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard =
    guardMs === undefined
      ? []
      : [
          new Promise<'pending'>((resolve) => {
            timer = setTimeout(resolve, guardMs, 'pending');
          }),
        ];
  const result = await Promise.race([
    promise.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
    ...guard,
  ]);
  clearTimeout(timer);
  const ms = elapsedSince(start);
  return result === 'pending' ? { status: 'pending', ms } : { ...result, ms };
}
