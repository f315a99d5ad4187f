import type client from 'prom-client';
import { bucketIndex } from './buckets.js';

// A histogram for the per-query hot path, served by a prom-client Registry like any of its
// metrics. prom-client's own Histogram.observe() builds a label key string and looks the bucket
// up by a number-keyed property on every call: a few microseconds and an allocation per
// observation, the whole per-query budget on its own (bench/pool-overhead.ts measures both).
// Here a series is resolved once to a recorder, and observe() is a binary search over the bounds
// and three additions into preallocated storage. The exposition is prom-client's: the registry
// asks get() for the samples at scrape time, bucket counts cumulative up to le="+Inf".

export interface HistogramRecorder {
  observe(seconds: number): void;
}

class Series implements HistogramRecorder {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    this.counts[bucketIndex(this.bounds, seconds)]!++;
    this.sum += seconds;
    this.count++;
  }
}

interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    buckets: readonly number[],
    registry: client.Registry,
  ) {
    this.bounds = Float64Array.from(buckets);
    // The registry serves anything with name, help, type and get(); the cast is for its types,
    // which list prom-client's own classes only.
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** The recorder of one label set, created at zero (so the series is exported before its first observation). */
  recorder(labels: Readonly<Record<string, string>>): HistogramRecorder {
    const key = this.key(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = new Series({ ...labels }, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  remove(labels: Readonly<Record<string, string>>): void {
    this.series.delete(this.key(labels));
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  private key(labels: Readonly<Record<string, string>>): string {
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name)) throw new Error(`${this.name}: unknown label "${name}"`);
    }
    return JSON.stringify(this.labelNames.map((n) => labels[n] ?? ''));
  }
}
