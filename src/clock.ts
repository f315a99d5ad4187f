import type { DeadlineTimers } from './errors.js';

// Time as the scheduler sees it: wall-clock milliseconds and timers. Passed in rather than read
// from globals, so the scheduler's tests drive time themselves instead of waiting for it.

export interface Clock extends DeadlineTimers {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};
