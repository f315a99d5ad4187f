// What a plan check keeps of an EXPLAIN (FORMAT JSON) plan tree: the relations it reads (and
// which of them by sequential scan), the indexes it uses, and its shape — the set of node types
// with the relation and index each reads — which is what a plan change compares.

export interface ExplainNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly 'Index Name'?: string;
  readonly 'Total Cost'?: number;
  readonly Plans?: readonly ExplainNode[];
}

export interface PlanShape {
  /** schema.relname of every relation the plan reads, sorted, once each. */
  readonly relations: readonly string[];
  /** schema.relname of every relation read by a sequential scan, sorted, once each. */
  readonly seqScanned: readonly string[];
  /** Index names the plan uses, sorted, once each. */
  readonly indexes: readonly string[];
  /** The sorted set of "Node Type[ on schema.relname][ using index]": equal shapes, equal plans. */
  readonly shape: string;
}

const sortedSet = (xs: Iterable<string>) => [...new Set(xs)].sort();

export function planShape(root: ExplainNode): PlanShape {
  const relations: string[] = [];
  const seqScanned: string[] = [];
  const indexes: string[] = [];
  const nodes: string[] = [];
  const walk = (node: ExplainNode) => {
    // VERBOSE names the schema of every relation; without it pg_catalog's default is "public".
    const rel = node['Relation Name'] === undefined ? undefined : `${node.Schema ?? 'public'}.${node['Relation Name']}`;
    if (rel !== undefined) relations.push(rel);
    if (rel !== undefined && node['Node Type'] === 'Seq Scan') seqScanned.push(rel);
    if (node['Index Name'] !== undefined) indexes.push(node['Index Name']);
    nodes.push(
      node['Node Type'] +
        (rel === undefined ? '' : ` on ${rel}`) +
        (node['Index Name'] === undefined ? '' : ` using ${node['Index Name']}`),
    );
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(root);
  return {
    relations: sortedSet(relations),
    seqScanned: sortedSet(seqScanned),
    indexes: sortedSet(indexes),
    shape: sortedSet(nodes).join('; '),
  };
}
