// Query text leaves the process only through here. pg_stat_statements replaces constants of
// plannable statements by $n, but utility statements keep their text verbatim
// (ALTER ROLE x PASSWORD '...', CREATE USER ..., COPY ... FROM PROGRAM '...'), and a text cut at
// a length limit can end inside a literal. So every literal that survived is replaced by `?`,
// comments are dropped (sqlcommenter tags and hand-written notes may carry anything), and
// an unterminated literal swallows the rest of the text.

export interface Redacted {
  readonly text: string;
  /** Literals replaced: 0 means the text is exactly the normalized statement (safe to EXPLAIN). */
  readonly literals: number;
}

const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;

/** Index just past a quoted string starting at `i` (the opening quote); text.length when unterminated. */
function skipQuoted(text: string, i: number, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text[j];
    if (backslashEscapes && c === '\\') {
      j += 2;
      continue;
    }
    if (c === "'") {
      if (text[j + 1] === "'") {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return text.length;
}

/** A dollar-quote opener ($$ or $tag$) at `i`, or undefined ($1 parameters are not openers). */
function dollarTag(text: string, i: number): string | undefined {
  const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 64));
  return m === null ? undefined : m[0];
}

export function redactSql(text: string): Redacted {
  let out = '';
  let literals = 0;
  let i = 0;
  const n = text.length;
  // Inside GROUP BY / ORDER BY lists, bare integers are column positions, not values: kept, so
  // `GROUP BY 1, 2` stays readable and plannable.
  let byList = false;
  while (i < n) {
    const c = text[i]!;
    const prev = i > 0 ? text[i - 1]! : ' ';
    // Comments.
    if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      out += ' ';
      i = end === -1 ? n : end;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (text[j] === '/' && text[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (text[j] === '*' && text[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      out += ' ';
      i = j;
      continue;
    }
    // Quoted identifiers stay (they are names, not values).
    if (c === '"') {
      let j = i + 1;
      while (j < n && !(text[j] === '"' && text[j + 1] !== '"')) j += text[j] === '"' ? 2 : 1;
      out += text.slice(i, Math.min(j + 1, n));
      i = j + 1;
      continue;
    }
    // String literals with a prefix: E'..', B'..', X'..', N'..', U&'..'.
    if (!IDENT_CHAR.test(prev)) {
      const m = /^(?:[EeBbXxNn]|[Uu]&)'/.exec(text.slice(i, i + 3));
      if (m !== null) {
        const quote = i + m[0].length - 1;
        i = skipQuoted(text, quote, c === 'E' || c === 'e');
        out += '?';
        literals++;
        continue;
      }
    }
    if (c === "'") {
      i = skipQuoted(text, i, false);
      out += '?';
      literals++;
      continue;
    }
    if (c === '$') {
      const tag = IDENT_CHAR.test(prev) ? undefined : dollarTag(text, i);
      if (tag !== undefined) {
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
        out += '?';
        literals++;
        continue;
      }
      // $1 parameters (and identifiers with $) are kept.
      let j = i + 1;
      while (j < n && DIGIT.test(text[j]!)) j++;
      out += text.slice(i, j);
      i = j;
      continue;
    }
    // Numbers not glued to an identifier: 42, 3.14, .5, 1e10, 0x1F.
    if ((DIGIT.test(c) || (c === '.' && DIGIT.test(text[i + 1] ?? ''))) && !IDENT_CHAR.test(prev)) {
      const m = /^(?:0[xXoObB][0-9A-Fa-f_]+|(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][+-]?[0-9]+)?)/.exec(text.slice(i));
      const len = Math.max(1, m?.[0].length ?? 1);
      const number = text.slice(i, i + len);
      i += len;
      if (byList && /^[0-9]+$/.test(number)) {
        out += number;
        continue;
      }
      out += '?';
      literals++;
      continue;
    }
    if (IDENT_CHAR.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(text[j]!)) j++;
      const word = text.slice(i, j);
      const lower = word.toLowerCase();
      byList = lower === 'by' || (byList && ['asc', 'desc', 'nulls', 'first', 'last'].includes(lower));
      out += word;
      i = j;
      continue;
    }
    if (c !== ',' && !/\s/.test(c)) byList = false;
    out += c;
    i++;
  }
  // Leading blank lines are what removed comments leave behind in extension scripts.
  return { text: out.replace(/^\s+/, '').replace(/[ \t]+\n/g, '\n'), literals };
}

/** Cuts to `max` characters (code points are not split), marking the cut. */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = Array.from(text.slice(0, max));
  return `${cut.slice(0, Math.max(0, cut.length - 1)).join('')}…`;
}
