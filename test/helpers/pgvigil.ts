import type { CollectorDefinition } from '../../src/collectors/types.js';
import { createLogger } from '../../src/logger.js';
import { createPgvigil, type Pgvigil } from '../../src/pgvigil.js';
import { loadConfig } from '../../src/pgvigil-config.js';
import { type ParsedMetrics, parseMetrics } from './metrics.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestPgvigil {
  readonly pgvigil: Pgvigil;
  /** Runs collectors now (all, or the named ones), then returns /metrics parsed. */
  poll(...collectors: string[]): Promise<ParsedMetrics>;
  /** /metrics as served, without polling. */
  scrape(): Promise<ParsedMetrics>;
  /** Raw /metrics text. */
  text(): Promise<string>;
  /** Everything pgvigil logged, one JSON object per line. */
  logs(): string;
}

/**
 * pgvigil in-process against `url`, not polling on its own schedule (tests call poll()), HTTP
 * through inject(). Pass env to override any variable; `schedule: true` starts the real poller.
 */
export async function startPgvigil(
  t: Teardown,
  url: string,
  env: Record<string, string> = {},
  options: { schedule?: boolean; listen?: boolean; definitions?: readonly CollectorDefinition[] } = {},
): Promise<TestPgvigil> {
  const config = loadConfig({
    DATABASE_URL: url,
    PGVIGIL_PORT: '0',
    PGVIGIL_HOST: '127.0.0.1',
    PGVIGIL_LOG_LEVEL: 'debug',
    ...env,
  });
  let logText = '';
  const log = createLogger(config.PGVIGIL_LOG_LEVEL, {
    write(chunk: string) {
      logText += chunk;
    },
  });
  // Collectors a test defines are not in the config's list: enable them explicitly.
  const extra = (options.definitions ?? []).map((d) => d.name).filter((n) => !config.intervals.has(n));
  const enabled = { ...config, enabledCollectors: new Set([...config.enabledCollectors, ...extra]) };
  const pgvigil = await createPgvigil(enabled, log, options.definitions);
  if (options.listen) await pgvigil.start();
  else if (options.schedule) pgvigil.poller.start();
  t.teardown(() => pgvigil.close());
  const text = async () => (await pgvigil.app.inject({ method: 'GET', url: '/metrics' })).body;
  return {
    pgvigil,
    async poll(...collectors) {
      if (collectors.length === 0) await pgvigil.poller.pollAll();
      else for (const c of collectors) await pgvigil.poller.pollCollector(c);
      return parseMetrics(await text());
    },
    scrape: async () => parseMetrics(await text()),
    text,
    logs: () => logText,
  };
}

/** Polls `check` until it returns true or the deadline passes (no sleep-as-sync). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
