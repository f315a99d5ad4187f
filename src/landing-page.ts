const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;line-height:1.5}' +
  'code{background:#eee;padding:0 .2em}';

/** The page a person sees at `/`: where to go next. Static, no user input is ever echoed. */
export function landingPage(version: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pgvigil</title>
<style>${STYLE}</style>
</head><body>
<h1>pgvigil ${version.replace(/[^0-9A-Za-z.+-]/g, '')}</h1>
<p>PostgreSQL monitoring sidecar for Prometheus.</p>
<ul>
<li><a href="/metrics">/metrics</a>: Prometheus and OpenMetrics exposition</li>
<li><a href="/api/statements">/api/statements</a>: current top statements (JSON)</li>
<li><a href="/healthz">/healthz</a>: process alive</li>
<li><a href="/readyz">/readyz</a>: PostgreSQL answered within the staleness limit</li>
</ul>
</body></html>
`;
}
