// A small parser of the Prometheus text format for assertions: families with HELP/TYPE and
// samples with their labels. Strict enough to catch escaping mistakes (it throws on bad lines).

export interface ParsedSample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface ParsedMetrics {
  readonly samples: ParsedSample[];
  readonly types: Map<string, string>;
  readonly help: Map<string, string>;
  /** Samples of one metric name whose labels include every given label. */
  find(name: string, labels?: Record<string, string>): ParsedSample[];
  /** The single value of a series; undefined when absent, throws when ambiguous. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Sum over every series of a name matching the labels. */
  sum(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(body.slice(i));
    if (m === null) throw new Error(`bad label in line: ${line}`);
    i += m[0].length;
    let value = '';
    for (;;) {
      const c = body[i];
      if (c === undefined) throw new Error(`unterminated label value in line: ${line}`);
      if (c === '\\') {
        const n = body[i + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`bad escape in line: ${line}`);
        i += 2;
      } else if (c === '"') {
        i++;
        break;
      } else {
        value += c;
        i++;
      }
    }
    labels[m[1]!] = value;
    if (body[i] === ',') i++;
  }
  return labels;
}

export function parseMetrics(text: string): ParsedMetrics {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line === '# EOF') continue;
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      help.set(name!, rest.join(' '));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    samples.push({ name: m[1]!, labels: m[3] === undefined ? {} : parseLabels(m[3], line), value: Number(m[4]) });
  }
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    help,
    find,
    value(name, labels) {
      const found = find(name, labels);
      if (found.length > 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
    sum: (name, labels) => find(name, labels).reduce((a, s) => a + s.value, 0),
  };
}
