#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// pgvigil's entry point. A sidecar's memory is charged to every pod it runs beside, and V8 by
// default lets the heap grow to several times the live data under a burst of scrapes (bench/:
// 175 MiB RSS after wrk, with 25 MiB live). --optimize-for-size makes the collector keep the heap
// close to what is live (93 MiB after the same load, same CPU). It has to be set before the
// application allocates, so the application is imported only afterwards.
setFlagsFromString('--optimize-for-size');
await import('./cli.js');
