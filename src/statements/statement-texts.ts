import { classify, OTHER_CLASS, type QueryClass } from 'pgvigil-pool/classes';
import type { Logger } from 'pino';
import type { EntryState } from './entry-states.js';
import type { PollIo } from './statement-sample.js';
import { type CachedText, TextCache, textKey } from './text-cache.js';

// Statement texts: fetched for entries not classified yet (members first, at most TEXTS_PER_FETCH
// per poll), redacted on arrival, and used once to give each entry its query class. A failed fetch
// is retried after RETRY_TEXTS_MS; meanwhile the entries stay unclassified (class "other").

const RETRY_TEXTS_MS = 60_000;
const TEXTS_PER_FETCH = 1000;

export class StatementTexts {
  private readonly cache: TextCache;
  private retryAt = 0;
  readonly fetches = { ok: 0, error: 0 };

  constructor(
    private readonly settings: { textCacheBytes: number; textMaxLength: number; classes: readonly QueryClass[] },
    private readonly log: Logger,
  ) {
    this.cache = new TextCache(settings.textCacheBytes, settings.textMaxLength);
  }

  get bytes(): number {
    return this.cache.bytes;
  }

  /** The redacted, cut text of an entry, when held. */
  of(state: EntryState): CachedText | undefined {
    const s = state.sample;
    return this.cache.get(textKey(s.dbid, s.userid, s.queryid));
  }

  /** Fetches texts of entries not classified yet (members first), redacts and classifies them. */
  async classifyNew(
    entries: ReadonlyMap<string, EntryState>,
    members: ReadonlySet<string>,
    now: number,
    io: PollIo,
  ): Promise<void> {
    const pending = [...entries.entries()].filter(([, s]) => !s.classified);
    if (pending.length === 0) return;
    // Entries of a text we already hold (the other toplevel variant) need no fetch.
    const needFetch = pending.filter(([, s]) => this.of(s) === undefined);
    let raw = new Map<string, string>();
    let fetched = new Set<string>();
    if (needFetch.length > 0 && now >= this.retryAt) {
      needFetch.sort(([a, x], [b, y]) => Number(members.has(b)) - Number(members.has(a)) || y.score - x.score);
      const batch = needFetch.slice(0, TEXTS_PER_FETCH);
      try {
        raw = await io.fetchTexts(batch.map(([, s]) => s.sample));
        this.fetches.ok++;
      } catch (err) {
        this.fetches.error++;
        this.retryAt = now + RETRY_TEXTS_MS;
        this.log.warn({ err }, 'statement text fetch failed');
        return;
      }
      fetched = new Set(batch.map(([k]) => k));
    }
    for (const [key, state] of pending) {
      const s = state.sample;
      const tk = textKey(s.dbid, s.userid, s.queryid);
      const text = raw.get(tk);
      let redacted: string | undefined;
      if (text !== undefined) redacted = this.cache.put(tk, text).redacted;
      else if (this.cache.has(tk)) redacted = this.cache.get(tk)!.text;
      else if (!fetched.has(key)) continue; // not asked for yet
      const identity = { text: redacted ?? '', datname: s.datname, usename: s.usename };
      state.className = classify(this.settings.classes, identity)?.name ?? OTHER_CLASS;
      state.classified = true;
    }
  }

  /** Drops texts of entries that are gone, then others' texts (members' kept) until under the cap. */
  trim(entries: ReadonlyMap<string, EntryState>, members: ReadonlySet<string>): void {
    const key = (state: EntryState) => textKey(state.sample.dbid, state.sample.userid, state.sample.queryid);
    const live = new Set([...entries.values()].map(key));
    this.cache.trim(live, new Set([...members].map((k) => key(entries.get(k)!))));
  }
}
