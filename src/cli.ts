// The process: config → logger → pool → poller → app → listen; SIGTERM/SIGINT close everything.
// Started by main.ts, after the runtime is tuned.
import closeWithGrace from 'close-with-grace';
import { answerCommandLine } from './cli-flags.js';
import { createLogger } from './logger.js';
import { createPgvigil } from './pgvigil.js';
import { type Config, ConfigError, loadConfig } from './pgvigil-config.js';

const answered = answerCommandLine(process.argv.slice(2), process.stdout, process.stderr);
if (answered !== undefined) process.exit(answered);

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`pgvigil: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
const log = createLogger(config.PGVIGIL_LOG_LEVEL);
const pgvigil = await createPgvigil(config, log);

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) log.error({ err }, 'fatal error, shutting down');
  else log.info({ signal }, 'shutting down');
  await pgvigil.close();
});

try {
  await pgvigil.start();
} catch (err) {
  log.fatal({ err }, 'cannot start HTTP server');
  await pgvigil.close();
  process.exit(1);
}
