#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc --single-threaded
import { setFlagsFromString } from 'node:v8';

// pgvigil's entry point: tunes the runtime for a small footprint, then starts the application
// (cli.ts). A sidecar's memory is charged to every pod it runs beside.
//
// The node flags on the first line hold what can only be set when V8 starts:
// - a young generation of 2 MiB semi-spaces (default 16) keeps the first poll, where every
//   collector runs at once, from growing the heap by 30 MB (bench/);
// - --expose-gc lets heap-trim.ts collect right after polls instead of waiting for V8's memory
//   reducer;
// - --single-threaded keeps V8's GC and compiler work on the main thread: each worker thread kept
//   a malloc arena of its own, 5-10 MB of RSS in all (measured with bench/).
// The Dockerfile's ENTRYPOINT, `npm start` and the bench pass the same flags;
// test/deploy/runtime-flags.test.ts keeps them in step.

// V8 by default lets the heap grow to several times the live data under a burst of scrapes
// (bench/: 175 MiB RSS after wrk, with 25 MiB live); --optimize-for-size makes the collector keep
// it close to what is live (93 MiB after the same load, same CPU). It must be set before the
// application allocates, so the application is imported only afterwards.
setFlagsFromString('--optimize-for-size');

// node-postgres detects Cloudflare Workers when it loads: by navigator.userAgent where there is a
// navigator (Node 21+), else by constructing a Response, whose first use loads undici's fetch and
// its WebAssembly HTTP parser: 12 MB of RSS pgvigil never uses. Give it the answer Node 21+ gives,
// only while it loads.
if (!('navigator' in globalThis)) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node}` },
    configurable: true,
  });
  await import('pg');
  delete (globalThis as { navigator?: unknown }).navigator;
}

await import('./cli.js');
