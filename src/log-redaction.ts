import pino from 'pino';

// Errors are logged whole, through pino's err serializer, so the stack and the cause chain are
// kept. What an error says is not under pgvigil's control, though: Node's URL parser puts the
// whole input, password included, on its TypeError (`input`), and a driver may repeat a
// connection string in a message. Path-based redaction cannot see inside a string, so every
// string of a serialized error is scrubbed of the two forms a PostgreSQL password takes.

const CENSOR = '[redacted]';

/** `scheme://user:password@host`: the password part of a URL's user info. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@]*@/gi;

/** `password=secret` or `password='se cret'` in a key/value connection string (PGPASSWORD too). */
const KEY_VALUE_PASSWORD = /(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'][^\s]*)/gi;

export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, `$1:${CENSOR}@`).replace(KEY_VALUE_PASSWORD, `$1${CENSOR}`);
}

/** pino's err serializer, with every string it produces scrubbed by redactSecrets. */
export function redactingErrSerializer(err: unknown): unknown {
  return scrub(pino.stdSerializers.err(err as Error), new Set());
}

/** A copy of `value` with every string scrubbed (the logged object itself is left alone). */
function scrub(value: unknown, seen: Set<object>): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, seen));
  const copy: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) copy[key] = scrub(v, seen);
  return copy;
}
