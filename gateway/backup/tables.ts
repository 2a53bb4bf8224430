import type { QueryRunner } from 'typeorm';
import { ConflictError } from '../errors';
import { MIGRATIONS_TABLE } from '../persistence/migration-status';

/** Tables that are part of the schema rather than data: never backed up or restored. */
const SCHEMA_TABLES = new Set([MIGRATIONS_TABLE, 'typeorm_metadata']);

/** A table the backup covers and what restoring it needs. */
export interface DataTable {
  name: string;
  /** Columns a row is restored into (generated columns are computed again). */
  columns: string[];
  /** Sequences of its serial columns: `[sequence, column]`, set past the restored values. */
  sequences: Array<[string, string]>;
}

/**
 * The data tables of the current schema (partitions are read through their parent), tables other
 * tables reference first, so that rows can be inserted in this order with every foreign key checked.
 */
export async function dataTables(q: QueryRunner): Promise<DataTable[]> {
  const tables = ((await q.query(`SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`)) as Array<{ name: string }>)
    .map((t) => t.name)
    .filter((name) => !SCHEMA_TABLES.has(name));
  const references = (await q.query(
    `SELECT c.relname AS "from", r.relname AS "to" FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND n.nspname = current_schema()`,
  )) as Array<{ from: string; to: string }>;
  const ordered = dependencyOrder(tables, references);
  const result: DataTable[] = [];
  for (const name of ordered) {
    const columns = ((await q.query(`SELECT attname AS name FROM pg_attribute WHERE attrelid = quote_ident($1)::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, [name])) as Array<{ name: string }>).map((c) => c.name);
    const sequences = ((await q.query(`SELECT name, pg_get_serial_sequence(quote_ident($1), name) AS sequence FROM unnest($2::text[]) AS name`, [name, columns])) as Array<{ name: string; sequence: string | null }>)
      .filter((s): s is { name: string; sequence: string } => !!s.sequence)
      .map((s): [string, string] => [s.sequence, s.name]);
    result.push({ name, columns, sequences });
  }
  return result;
}

/** Orders tables so that each comes after those it references (a reference to itself is allowed); a cycle is a CONFLICT. */
export function dependencyOrder(tables: string[], references: Array<{ from: string; to: string }>): string[] {
  const needs = new Map(tables.map((t) => [t, new Set<string>()]));
  for (const { from, to } of references) if (from !== to && needs.has(from) && needs.has(to)) needs.get(from)!.add(to);
  const ordered: string[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const ready = tables.filter((t) => !placed.has(t) && [...needs.get(t)!].every((n) => placed.has(n)));
    if (!ready.length) throw new ConflictError(`The tables ${tables.filter((t) => !placed.has(t)).join(', ')} reference each other in a cycle: they cannot be restored one after the other`);
    for (const t of ready) {
      ordered.push(t);
      placed.add(t);
    }
  }
  return ordered;
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
