import pino, { type Logger } from 'pino';
import { redactingErrSerializer } from './log-redaction.js';

// Paths redacted wherever they appear in a log object: connection settings and anything a
// future log call might pass by mistake. Errors go under `err` and keep their stack; passwords
// inside their strings are scrubbed by log-redaction.ts. Query text is redacted before it gets
// here (statements/).
export const REDACT_PATHS = [
  'password',
  '*.password',
  'connectionString',
  '*.connectionString',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'PGPASSWORD',
  '*.PGPASSWORD',
  'PGVIGIL_AUTH_PASSWORD',
  '*.PGVIGIL_AUTH_PASSWORD',
  'PGVIGIL_AUTH_TOKEN',
  '*.PGVIGIL_AUTH_TOKEN',
  'httpAuth',
  '*.httpAuth',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pgvigil' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: redactingErrSerializer },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
