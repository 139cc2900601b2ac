// Writes one valid row into any tenant table, derived from the catalog alone, so the RLS probe covers a
// table added after it was written. A NOT NULL column without a default gets: the probe tenant (tenant_id),
// the parent row's key (a foreign key: tenant-owned parents are written first for the same tenant, shared
// reference data such as plans or carriers is picked from existing rows), the first allowed value of a
// CHECK (col IN (...)) or of an enum, and otherwise a value of its type. Numbers ascend in column order
// (1, 2, 3...) so pairwise checks such as hard_ceiling >= included or to_units > from_units hold.
// A table whose rows cannot be derived this way is reported by the probe as unproven, never skipped.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import type { Column, TenantTable } from "./rls-catalog.ts";

export type Row = Record<string, unknown>;

export class ProbeRows {
  private readonly written = new Map<string, Row>();
  private readonly tables: Map<string, TenantTable>;
  private readonly client: pg.Client;

  constructor(client: pg.Client, tables: TenantTable[]) {
    this.client = client;
    this.tables = new Map(tables.map((t) => [t.name, t]));
  }

  /** How many rows are known written; with forgetSince, undoes the cache with a savepoint rollback. */
  checkpoint(): number {
    return this.written.size;
  }

  forgetSince(checkpoint: number): void {
    for (const key of [...this.written.keys()].slice(checkpoint)) this.written.delete(key);
  }

  async as(tenant: string | null): Promise<void> {
    await this.client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant ?? ""]);
  }

  /** The tenant's row in the table, written (with its parents) on first use, in that tenant's context. */
  async ensure(table: string, tenant: string, slug: string): Promise<Row> {
    const key = `${table}/${tenant}`;
    const known = this.written.get(key);
    if (known) return known;
    const t = this.tables.get(table);
    if (!t) throw new Error(`${table} is not a tenant table`);
    if (t.kind === "tenants") {
      const plan = (await this.client.query<{ id: string }>("SELECT id FROM plans ORDER BY rank LIMIT 1"))
        .rows[0]?.id;
      if (!plan) throw new Error("no plan exists to create probe tenants on; seed the plan catalogue first");
      await this.as(tenant);
      await this.client.query(
        "INSERT INTO tenants (id, slug, name, plan_id) VALUES ($1, $2, 'RLS probe', $3)",
        [tenant, slug, plan],
      );
      const row = { id: tenant };
      this.written.set(key, row);
      return row;
    }
    const values = await this.values(t, tenant, slug);
    await this.as(tenant);
    const row = await this.insert(t, values);
    this.written.set(key, row);
    return row;
  }

  /** Column values for a new row of the table owned by `tenant` (parents of that tenant written first). */
  async values(t: TenantTable, tenant: string, slug: string): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    for (const fk of t.foreignKeys) {
      if (fk.parent === t.name) continue;
      const parent = this.tables.get(fk.parent);
      const needed = fk.columns.some((c) => column(t, c).notNull) || t.via === fk;
      if (!needed) continue;
      let source: Row | undefined;
      if (parent) source = await this.ensure(parent.name, tenant, slug);
      else {
        const list = fk.parentColumns.map((c) => pg.escapeIdentifier(c)).join(", ");
        source = (
          await this.client.query<Row>(`SELECT ${list} FROM ${pg.escapeIdentifier(fk.parent)} LIMIT 1`)
        ).rows[0];
        if (!source)
          throw new Error(`${fk.parent} has no row for ${t.name}.${fk.columns.join(", ")} to reference`);
      }
      fk.columns.forEach((c, i) => values.set(c, text(source[fk.parentColumns[i] as string])));
    }
    let counter = 0;
    for (const c of t.columns) {
      if (values.has(c.name) || c.generated) continue;
      if (c.name === "tenant_id") {
        values.set(c.name, tenant);
        continue;
      }
      if (!c.notNull || c.hasDefault) continue;
      const derived = derive(c, t.checks.get(c.name) ?? [], () => ++counter);
      if (derived === undefined)
        throw new Error(`cannot derive a value for ${t.name}.${c.name} (${c.type}); give it a default`);
      values.set(c.name, derived);
    }
    return values;
  }

  async insert(t: TenantTable, values: Map<string, string>): Promise<Row> {
    const names = [...values.keys()];
    const types = new Map(t.columns.map((c) => [c.name, c.type]));
    const sql = `INSERT INTO ${pg.escapeIdentifier(t.name)} AS r (${names.map((n) => pg.escapeIdentifier(n)).join(", ")})
      VALUES (${names.map((n, i) => `$${i + 1}::${types.get(n)}`).join(", ")}) RETURNING to_jsonb(r) AS row`;
    const result = await this.client.query<{ row: Row }>(sql, [...values.values()]);
    return result.rows[0]?.row ?? {};
  }
}

function column(t: TenantTable, name: string): Column {
  const c = t.columns.find((x) => x.name === name);
  if (!c) throw new Error(`${t.name} has no column ${name}`);
  return c;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A value that satisfies the column's type and its single-column CHECK list, or undefined. */
export function derive(c: Column, checks: string[], next: () => number): string | undefined {
  for (const check of checks) {
    // CHECK (col ~ '^[0-9a-f]{64}$'), a digest in hex: that many hex digits.
    const hex = /~ '\^\[0-9a-f\]\{(\d+)\}\$'/.exec(check)?.[1];
    if (hex)
      return randomBytes(Math.ceil(Number(hex) / 2))
        .toString("hex")
        .slice(0, Number(hex));
    // CHECK (col IN ('a', 'b')) reads back as col = ANY (ARRAY['a'::text, ...]); CHECK (col = 'a') as is.
    const list =
      /ANY \(\(?ARRAY\[(.*?)\]/.exec(check)?.[1] ?? /= ('(?:[^']|'')*'|-?\d+(?:\.\d+)?)/.exec(check)?.[1];
    const first = list?.split(",")[0]?.trim();
    if (first)
      return first
        .replace(/::[\w ]+(\[\])?$/, "")
        .replace(/^'(.*)'$/, "$1")
        .replace(/''/g, "'");
  }
  if (c.typtype === "e") return c.enumLabels[0];
  if (c.category === "A") return "{}";
  switch (c.category) {
    case "N":
      return String(next());
    case "B":
      return "false";
    case "S":
      return `rls-probe-${randomUUID().slice(0, 8)}`;
    case "D":
      return new Date().toISOString();
    case "T":
      return "1 hour";
    case "I":
      return "127.0.0.1";
  }
  if (c.type === "uuid") return randomUUID();
  if (c.type === "bytea") return `\\x${randomBytes(16).toString("hex")}`;
  if (c.type === "json" || c.type === "jsonb") return "{}";
  return undefined;
}
