import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Version from package.json, found from src/ (tests) and dist/src/ (built). */
export function packageVersion(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [resolve(here, '..'), resolve(here, '../..')]) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pgvigil' && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}
