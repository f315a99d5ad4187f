import { configSchema } from './pgvigil-config.js';
import { packageVersion } from './version.js';

// pgvigil takes its settings from the environment only (a sidecar's natural interface); the
// command line answers --help and --version, so an operator can ask a binary what it is.

interface Described {
  description?: string;
}

export function helpText(): string {
  const properties = (configSchema as unknown as { properties: Record<string, Described> }).properties;
  const width = Math.max(...Object.keys(properties).map((name) => name.length));
  const variables = Object.entries(properties).map(([name, p]) => `  ${name.padEnd(width)}  ${p.description ?? ''}`);
  return [
    `pgvigil ${packageVersion()}: PostgreSQL monitoring sidecar for Prometheus.`,
    '',
    'Usage:',
    '  pgvigil            start; settings come from the environment',
    '  pgvigil --help     this text',
    '  pgvigil --version  the version',
    '',
    'Environment (also the PG* variables libpq reads: PGHOST, PGUSER, PGPASSWORD ...):',
    ...variables,
    '',
  ].join('\n');
}

/**
 * Answers the command line: the exit code when it asked for help or the version (0) or was not
 * understood (2); undefined when there is nothing to answer and pgvigil should start.
 */
export function answerCommandLine(
  args: readonly string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number | undefined {
  const [first] = args;
  if (first === undefined) return undefined;
  if (first === '--help' || first === '-h') {
    out.write(helpText());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    out.write(`${packageVersion()}\n`);
    return 0;
  }
  err.write(`pgvigil: unknown argument ${JSON.stringify(first)}; settings come from the environment (see --help)\n`);
  return 2;
}
