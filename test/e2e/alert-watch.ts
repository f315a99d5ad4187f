import { eventually } from '../helpers/pgvigil.js';
import type { AlertmanagerAlert, PrometheusStack } from '../helpers/prometheus-stack.js';

// Follows Alertmanager's active alerts (GET /api/v2/alerts) in the background and remembers when
// each alert (name + identifying labels) arrived and when it left, i.e. resolved. Every change is
// printed, so the test output lists the alerts seen firing and resolving.

export interface AlertEvent {
  readonly key: string;
  readonly firedAt?: number;
  readonly resolvedAt?: number;
}

const IDENTITY = [
  'alertname',
  'severity',
  'datname',
  'class',
  'path',
  'lag',
  'seen_from',
  'age',
  'wal_status',
  'pool',
  'database',
  'user',
  'collector',
  'application_name',
  'slot_name',
  'indexrelname',
  'relname',
];

export function alertKey(labels: Record<string, string>): string {
  const parts = IDENTITY.filter((k) => k !== 'alertname' && labels[k] !== undefined && labels[k] !== '').map(
    (k) => `${k}=${labels[k]}`,
  );
  return `${labels.alertname}{${parts.join(', ')}}`;
}

export class AlertWatch {
  readonly events = new Map<string, { firedAt: number; resolvedAt?: number }>();
  private active = new Map<string, AlertmanagerAlert>();
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private busy = false;

  constructor(
    private readonly stack: PrometheusStack,
    private readonly print: (line: string) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = Date.now();
      const current = new Map<string, AlertmanagerAlert>();
      for (const a of await this.stack.alerts()) current.set(alertKey(a.labels), a);
      for (const [key] of current) {
        const e = this.events.get(key);
        if (e === undefined || e.resolvedAt !== undefined) {
          this.events.set(key, { firedAt: now });
          this.print(`+${this.elapsed(now)} FIRING   ${key}`);
        }
      }
      for (const [key] of this.active) {
        if (!current.has(key)) {
          const e = this.events.get(key);
          if (e !== undefined) e.resolvedAt = now;
          this.print(`+${this.elapsed(now)} RESOLVED ${key}`);
        }
      }
      this.active = current;
    } catch {
      // Alertmanager busy for a moment: the next tick catches up.
    } finally {
      this.busy = false;
    }
  }

  private elapsed(now: number): string {
    return `${((now - this.started) / 1000).toFixed(1)}s`;
  }

  /** Active alerts whose labels include `labels`. */
  matching(alertname: string, labels: Record<string, string> = {}): AlertmanagerAlert[] {
    return [...this.active.values()].filter(
      (a) => a.labels.alertname === alertname && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
    );
  }

  async firing(alertname: string, labels: Record<string, string> = {}, timeoutMs = 60_000): Promise<AlertmanagerAlert> {
    await eventually(
      () => this.matching(alertname, labels).length > 0,
      timeoutMs,
      `${alertname} ${JSON.stringify(labels)} firing at Alertmanager`,
    );
    return this.matching(alertname, labels)[0]!;
  }

  async resolved(alertname: string, labels: Record<string, string> = {}, timeoutMs = 60_000): Promise<void> {
    await eventually(
      () => this.matching(alertname, labels).length === 0,
      timeoutMs,
      `${alertname} ${JSON.stringify(labels)} resolved at Alertmanager`,
    );
  }
}
