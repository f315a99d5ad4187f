// Remembers the failed test points of a TAP stream, so the runner can list them at the end.
// TAP nests a subtest four spaces deeper than its parent and announces it with "# Subtest: name";
// a failed point is "not ok N - name", followed by a YAML block ("---" … "...") with the details.

const MAX_FAILURES = 40;
const MAX_DIAGNOSTIC_LINES = 16;
// Diagnostic keys that repeat what the heading says or fill the tail with noise: the source
// excerpt, and how tap spawned a test file.
const SKIPPED_KEYS = new Set(['source', 'stack', 'stdio', 'cwd', 'externalID', 'command', 'args', 'isToplevel']);

export class FailureTracker {
  #subtests = [];
  #failures = [];
  #diagnostic = null;

  read(line) {
    if (this.#diagnostic !== null) {
      this.#readDiagnostic(line);
      return;
    }
    const depth = Math.floor((line.length - line.trimStart().length) / 4);
    const content = line.trim();
    const subtest = /^# Subtest: (.*)$/.exec(content);
    if (subtest) {
      this.#subtests.length = depth;
      this.#subtests[depth] = subtest[1];
      return;
    }
    if (/^not ok \d+/.test(content) && this.#failures.length < MAX_FAILURES) {
      const within = this.#subtests.slice(0, depth).join(' > ');
      const failure = { heading: within === '' ? content : `${within} > ${content}`, details: [] };
      this.#failures.push(failure);
      this.#diagnostic = { failure, indent: line.length - line.trimStart().length, open: false, skipping: false };
    }
  }

  #readDiagnostic(line) {
    const state = this.#diagnostic;
    const content = line.trim();
    if (!state.open) {
      if (content === '---') {
        state.open = true;
        return;
      }
      this.#diagnostic = null;
      this.read(line);
      return;
    }
    if (content === '...') {
      this.#diagnostic = null;
      return;
    }
    const detail = line.slice(Math.min(state.indent + 2, line.length - line.trimStart().length));
    const key = /^(\s*)(\w+):/.exec(detail);
    if (key && key[1].length <= 2) state.skipping = SKIPPED_KEYS.has(key[2]);
    if (!state.skipping && state.failure.details.length < MAX_DIAGNOSTIC_LINES) state.failure.details.push(detail);
  }

  report() {
    if (this.#failures.length === 0) return '';
    const lines = [`# ${this.#failures.length} failed test point(s), innermost last in each path:`];
    for (const failure of this.#failures) {
      lines.push(`# ${failure.heading}`);
      for (const detail of failure.details) lines.push(`#     ${detail}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
