import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../pgvigil-config.js';
import {
  configurationTable,
  type FamilyDoc,
  metricsReference,
  replaceSection,
  type SettingsSchema,
} from './docs-tables.js';

// `npm run docs` rewrites the generated sections of docs/metrics.md (from the golden family list
// that test/golden.test.ts proves equal to what pgvigil emits) and docs/configuration.md (from the
// config schema). test/docs.test.ts fails when either is out of date. The two inputs are read here
// and nowhere else, so a change in where they come from is a change to docsInputs() only.

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from src/dev (run by tap) or dist/src/dev (run by `npm run docs`). */
export const repoRoot = [resolve(here, '../..'), resolve(here, '../../..')].find((d) =>
  existsSync(join(d, 'package.json')),
)!;

export const GOLDEN_PATH = join(repoRoot, 'test', 'golden', 'families.json');

/** A family as test/golden/families.json records it. */
export interface GoldenFamily extends FamilyDoc {
  readonly labels: string[];
  readonly collector: string;
  readonly where: string;
}

export interface DocsInputs {
  readonly families: readonly FamilyDoc[];
  readonly schema: SettingsSchema;
}

export function docsInputs(): DocsInputs {
  return {
    families: JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[],
    schema: configSchema as unknown as SettingsSchema,
  };
}

/** Each generated document: its path under the repository root and how its generated section is built. */
export const GENERATED_DOCS = [
  {
    path: 'docs/metrics.md',
    section: 'metrics-reference',
    render: (inputs: DocsInputs) => metricsReference(inputs.families),
  },
  {
    path: 'docs/configuration.md',
    section: 'config-table',
    render: (inputs: DocsInputs) => configurationTable(inputs.schema),
  },
] as const;

/** The document's text with its generated section rebuilt from the inputs. */
export function renderDoc(doc: (typeof GENERATED_DOCS)[number], text: string, inputs: DocsInputs): string {
  try {
    return replaceSection(text, doc.section, doc.render(inputs));
  } catch (err) {
    throw new Error(`${doc.path}: cannot render its generated section`, { cause: err });
  }
}

if (process.argv[1]?.endsWith('update-docs.js')) {
  const inputs = docsInputs();
  for (const doc of GENERATED_DOCS) {
    const path = join(repoRoot, doc.path);
    writeFileSync(path, renderDoc(doc, readFileSync(path, 'utf8'), inputs));
    process.stdout.write(`${doc.path} updated\n`);
  }
}
