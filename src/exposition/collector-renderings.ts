import type { Logger } from 'pino';
import type { SelfMetrics } from '../self-metrics.js';
import type { SnapshotStore } from '../snapshot-store.js';
import type { ExpositionFormat } from './format.js';
import { deflateSegment, type Segment } from './gzip-segments.js';
import { type RenderResult, render, renderSliced } from './render.js';

// Each collector's fresh snapshot as exposition bytes, per format, rendered once per snapshot
// swap and not once per scrape. A new snapshot is rendered right after its poll, in slices, for
// the formats scrapers have asked for, so rendering a large snapshot never sits in a scrape's
// latency; meanwhile scrapes get the previous rendering.

/**
 * One collector's snapshot in one format. Prometheus scrapes with gzip, which needs only the
 * deflate segment: the plain bytes (5 MB at 2000 tables) are kept only while someone scrapes this
 * format uncompressed.
 */
export interface RenderedPart {
  /** The snapshot key (SnapshotStore.fresh) this was rendered from. */
  readonly key: string;
  readonly series: number;
  readonly length: number;
  body?: Buffer[] | undefined;
  segment?: Promise<Segment>;
}

/** How long plain bytes are kept after the last uncompressed scrape of a format. */
const PLAIN_KEEP_MS = 5 * 60_000;

interface CollectorCache {
  readonly byFormat: Map<ExpositionFormat, RenderedPart>;
  /** Snapshot key whose duplicate series were counted already (each format merges on its own). */
  duplicatesCountedKey?: string;
  /** Set while a new snapshot is rendered in the background; scrapes meanwhile get the previous one. */
  rendering?: Promise<void> | undefined;
}

export class CollectorRenderings {
  private readonly caches = new Map<string, CollectorCache>();
  /** When each format was last scraped uncompressed (its plain bytes are kept while that is recent). */
  private readonly plainWantedAt = new Map<ExpositionFormat, number>();
  /** Bumped whenever a rendering is replaced, so a body built from the old one is not served again. */
  revision = 0;

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly metrics: SelfMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    snapshots.onPublish((collector) => this.rerender(collector));
  }

  /** Notes a scrape of `format` that wants plain bytes, so they are kept for a while. */
  wantPlain(format: ExpositionFormat, now: number): void {
    this.plainWantedAt.set(format, now);
  }

  /** Every collector's current rendering of `format` (with plain bytes when `plain`), in collector order. */
  parts(format: ExpositionFormat, plain: boolean): RenderedPart[] {
    const now = this.now();
    const out: RenderedPart[] = [];
    for (const collector of this.snapshots.collectors()) {
      const cache = this.cacheOf(collector);
      const { key, parts } = this.snapshots.fresh(collector, now);
      let cached = cache.byFormat.get(format);
      // While the background render of a new snapshot runs, the previous one is still served.
      const outdated = cached === undefined || (cached.key !== key && cache.rendering === undefined);
      const plainDropped = plain && cached !== undefined && cached.body === undefined && cached.length > 0;
      if (outdated || plainDropped) {
        const rendered = this.counted(cache, key, render(parts, format));
        // The same snapshot rendered again for its plain bytes keeps its segment.
        const segment = cached?.key === key ? cached.segment : undefined;
        cached = { ...renderedPart(key, rendered), ...(segment === undefined ? {} : { segment }) };
        cache.byFormat.set(format, cached);
        this.metrics.collectorSeries.set({ collector }, rendered.series);
      }
      if (cached!.length > 0) out.push(cached!);
    }
    return out;
  }

  /** The part's deflate segment, made once; the plain bytes go once it exists unless still wanted. */
  segmentOf(part: RenderedPart, format: ExpositionFormat): Promise<Segment> {
    part.segment ??= deflateSegment(part.body!).then((segment) => {
      if (this.now() - (this.plainWantedAt.get(format) ?? -Infinity) > PLAIN_KEEP_MS) part.body = undefined;
      return segment;
    });
    return part.segment;
  }

  /**
   * Renders a collector's new snapshot right after the poll, in slices, for the formats scrapers
   * have asked for (compressed too, when they scrape with gzip). Nobody scraped yet: nothing to do,
   * the first scrape renders.
   */
  private rerender(collector: string): Promise<void> {
    const cache = this.cacheOf(collector);
    const formats = [...cache.byFormat.keys()];
    if (formats.length === 0) return Promise.resolve();
    const job = (async () => {
      const { key, parts } = this.snapshots.fresh(collector, this.now());
      for (const format of formats) {
        const gzipped = cache.byFormat.get(format)?.segment !== undefined;
        const rendered = this.counted(cache, key, await renderSliced(parts, format));
        const part = renderedPart(key, rendered);
        if (gzipped) await this.segmentOf(part, format);
        cache.byFormat.set(format, part);
        this.revision++;
        this.metrics.collectorSeries.set({ collector }, rendered.series);
      }
    })();
    const done: Promise<void> = job
      .catch((err: unknown) => {
        this.log.warn({ collector, err }, 'rendering failed');
        cache.byFormat.clear();
      })
      .finally(() => {
        if (cache.rendering === done) cache.rendering = undefined;
      });
    cache.rendering = done;
    return done;
  }

  /**
   * Counts the series a rendering dropped as duplicates. Each format renders on its own, and plain
   * bytes may be rendered again: they count once per snapshot key.
   */
  private counted(cache: CollectorCache, key: string, rendered: RenderResult): RenderResult {
    const uncounted = rendered.duplicates > 0 && cache.duplicatesCountedKey !== key;
    if (uncounted) this.metrics.duplicatesDropped.inc(rendered.duplicates);
    cache.duplicatesCountedKey = key;
    return rendered;
  }

  private cacheOf(collector: string): CollectorCache {
    let cache = this.caches.get(collector);
    if (cache === undefined) {
      cache = { byFormat: new Map() };
      this.caches.set(collector, cache);
    }
    return cache;
  }
}

function renderedPart(key: string, rendered: RenderResult): RenderedPart {
  return { key, body: rendered.chunks, series: rendered.series, length: rendered.length };
}
