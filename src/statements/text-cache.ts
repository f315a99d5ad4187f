import { redactSql, truncateText } from 'pgvigil-pool/redact';

// Redacted statement texts, fetched only for entries we have not seen (reading texts makes
// PostgreSQL read its whole query-text file) and kept under a memory cap. Raw text never stays
// here: it is redacted on arrival and cut to the configured length.

export interface CachedText {
  /** Redacted and cut to the configured length. */
  readonly text: string;
  /** Literals the redaction replaced (0: the normalized statement as PostgreSQL has it). */
  readonly literals: number;
  readonly truncated: boolean;
}

/** (dbid, userid, queryid): both toplevel variants of an entry share one text. */
export function textKey(dbid: number, userid: number, queryid: string): string {
  return `${dbid}/${userid}/${queryid}`;
}

export class TextCache {
  private readonly texts = new Map<string, CachedText>();
  private size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxLength: number,
  ) {}

  get bytes(): number {
    return this.size;
  }

  get(key: string): CachedText | undefined {
    return this.texts.get(key);
  }

  has(key: string): boolean {
    return this.texts.has(key);
  }

  /** Redacts and stores; returns the redacted (uncut) text for classification, which is not kept. */
  put(key: string, raw: string): { cached: CachedText; redacted: string } {
    const { text: redacted, literals } = redactSql(raw);
    const cut = truncateText(redacted, this.maxLength);
    const cached: CachedText = { text: cut, literals, truncated: cut.length !== redacted.length };
    this.delete(key);
    this.texts.set(key, cached);
    this.size += cost(key, cached);
    return { cached, redacted };
  }

  /** Drops texts of entries that are gone, then the oldest texts of entries not in `keep` until under the cap. */
  trim(live: ReadonlySet<string>, keep: ReadonlySet<string>): void {
    for (const key of [...this.texts.keys()]) if (!live.has(key)) this.delete(key);
    for (const key of [...this.texts.keys()]) {
      if (this.size <= this.maxBytes) break;
      if (!keep.has(key)) this.delete(key);
    }
  }

  private delete(key: string): void {
    const old = this.texts.get(key);
    if (old === undefined) return;
    this.size -= cost(key, old);
    this.texts.delete(key);
  }
}

// UTF-16 code units, two bytes each, plus the key and a little bookkeeping.
function cost(key: string, t: CachedText): number {
  return 2 * (t.text.length + key.length) + 64;
}
