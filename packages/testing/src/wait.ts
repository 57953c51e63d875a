import type { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return sleep(ms);
}

export interface WaitForOptions {
  /** Give up after this many milliseconds. @default 5000 */
  timeout?: number;
  /** Milliseconds between attempts. @default 25 */
  interval?: number;
  /** Named in the timeout error. */
  message?: string;
}

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or
 * `false` (or a promise of one) and resolves with that value. A throw counts
 * as "not yet"; the last one becomes the `cause` of the timeout error.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeout = options.timeout ?? 5000;
  const interval = options.interval ?? 25;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) {
        return value as Exclude<T, undefined | null | false>;
      }
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = options.message ?? "condition";
      throw new Error(`waitFor: ${what} not met within ${timeout} ms`, { cause: lastError });
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
}

/** The subset of an emitter `once` needs: Node's EventEmitter and socket.io-client's both fit. */
export interface OnceEmitter {
  once(event: string, listener: (...args: never[]) => void): unknown;
  off?(event: string, listener: (...args: never[]) => void): unknown;
  removeListener?(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * The arguments of the next `event` on `emitter`, or a rejection after
 * `timeout` ms (default 5000). Unlike `events.once`, an `"error"` event is not
 * treated specially, so it also works for socket.io-client's `connect_error`.
 */
export function once<A extends unknown[] = unknown[]>(
  emitter: OnceEmitter | EventEmitter,
  event: string,
  timeout = 5000,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const target = emitter as OnceEmitter;
    const listener = (...args: never[]): void => {
      clearTimeout(timer);
      resolve(args as unknown as A);
    };
    const timer = setTimeout(() => {
      if (target.off) target.off(event, listener);
      else target.removeListener?.(event, listener);
      reject(new Error(`once: no "${event}" event within ${timeout} ms`));
    }, timeout);
    target.once(event, listener);
  });
}
