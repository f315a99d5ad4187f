import type { SelfMetrics } from '../self-metrics.js';
import type { SnapshotStore } from '../snapshot-store.js';
import type { CollectorRenderings } from './collector-renderings.js';
import type { ExpositionFormat } from './format.js';
import { combined, finalSegment, gzipJoin, type Segment } from './gzip-segments.js';
import { render } from './render.js';

// The /metrics body: every collector's rendering (collector-renderings.ts) followed by pgvigil's
// own metrics, as chunks of bytes to send in order, gzip-compressed when asked. Each collector's
// snapshot is compressed once per swap and a scrape compresses at most pgvigil's own metrics
// (gzip-segments.ts); the chunks are the cached buffers themselves, not copies. Bytes, not
// strings: concatenating cached strings builds a rope that V8 flattens again on every scrape,
// which cost more than all the rest of a scrape.

/**
 * Scrapes within this long of each other share one rendering of pgvigil's own metrics, unless the
 * poller changed them meanwhile. Rendering them (prom-client reads /proc, heap statistics, ...)
 * was most of a scrape's work and garbage: under 10 concurrent scrapers it grew the heap by 60 MB.
 */
const SELF_METRICS_REUSE_MS = 1000;

interface SelfMetricsTail {
  readonly at: number;
  readonly revision: number;
  readonly bytes: Buffer;
  segment?: Segment;
}

interface ReusableBody {
  readonly revision: number;
  readonly until: number;
  readonly chunks: Buffer[];
}

/** What a scrape asks for: the body in its format, compressed or not. */
export interface MetricsBody {
  body(format: ExpositionFormat, compressed: boolean): Promise<Buffer[]>;
}

export class Exposition implements MetricsBody {
  private readonly tails = new Map<ExpositionFormat, SelfMetricsTail>();
  /** The last body per format and encoding, served again while nothing changed. */
  private readonly bodies = new Map<string, ReusableBody>();
  private readonly crcs = new Map<ExpositionFormat, { segments: Segment[]; value: { crc: number; length: number } }>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly renderings: CollectorRenderings,
    private readonly metrics: SelfMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** The body as one string (tests, and callers that want text). */
  async text(format: ExpositionFormat): Promise<string> {
    return Buffer.concat(await this.body(format, false)).toString('utf8');
  }

  async body(format: ExpositionFormat, compressed: boolean): Promise<Buffer[]> {
    const now = this.now();
    if (!compressed) this.renderings.wantPlain(format, now);
    // Until something changes, every scrape gets the same chunks: a burst of scrapes then makes
    // next to no garbage (it made enough to grow the heap by tens of MB under wrk).
    const memoKey = `${format}${compressed ? '+gzip' : ''}`;
    const memo = this.bodies.get(memoKey);
    const revision = this.revision();
    if (memo !== undefined && memo.revision === revision && now < memo.until) return memo.chunks;
    const parts = this.renderings.parts(format, !compressed);
    const tail = await this.selfMetricsTail(format, now, revision);
    let chunks: Buffer[];
    if (!compressed) chunks = [...parts.flatMap((p) => p.body!), tail.bytes];
    else {
      const segments = await Promise.all(parts.map((p) => this.renderings.segmentOf(p, format)));
      tail.segment ??= finalSegment(tail.bytes);
      chunks = gzipJoin(segments, tail.segment, this.combinedCrc(format, segments));
    }
    const until = Math.min(tail.at + SELF_METRICS_REUSE_MS, this.snapshots.nextStaleAt(now));
    this.bodies.set(memoKey, { revision, until, chunks });
    return chunks;
  }

  /**
   * Changes whenever the body could: a snapshot written, a rendering replaced, or pgvigil's own
   * metrics changed by the poller. Each count only grows, so their sum changes when any does.
   */
  private revision(): number {
    return this.snapshots.revision + this.renderings.revision + this.metrics.revision;
  }

  /** The segments' combined CRC, recomputed only when one of them changed since the last scrape. */
  private combinedCrc(format: ExpositionFormat, segments: Segment[]): { crc: number; length: number } {
    const last = this.crcs.get(format);
    const same = last?.segments.length === segments.length && last.segments.every((s, i) => s === segments[i]);
    if (same) return last.value;
    const value = combined(segments);
    this.crcs.set(format, { segments, value });
    return value;
  }

  /** pgvigil's own metrics, the end of every body: rendered at most once per SELF_METRICS_REUSE_MS. */
  private async selfMetricsTail(format: ExpositionFormat, now: number, revision: number): Promise<SelfMetricsTail> {
    const cached = this.tails.get(format);
    if (cached !== undefined && cached.revision === revision && now - cached.at < SELF_METRICS_REUSE_MS) return cached;
    const { chunks } = render([await this.metrics.families()], format);
    if (format === 'openmetrics') chunks.push(Buffer.from('# EOF\n'));
    const tail: SelfMetricsTail = { at: now, revision, bytes: Buffer.concat(chunks) };
    this.tails.set(format, tail);
    return tail;
  }
}
