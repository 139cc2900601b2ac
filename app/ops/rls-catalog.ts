// What the RLS probe learns from the catalog before it tries anything: which tables hold tenant data
// (a tenant_id column, the tenants table itself, or a foreign key into either, followed transitively),
// their columns, foreign keys and CHECK constraints (so a probe row can be written into a table the
// probe has never heard of), the policies that apply to the probing role, the views over tenant
// tables and the SECURITY DEFINER functions it may call. Everything is read as the probing role.
import type pg from "pg";

export interface Column {
  name: string;
  /** format_type(): what a text parameter is cast to. */
  type: string;
  /** 'b' base, 'e' enum, 'd' domain...; with the type category, how a value is derived. */
  typtype: string;
  category: string;
  notNull: boolean;
  hasDefault: boolean;
  generated: boolean;
  updatable: boolean;
  enumLabels: string[];
}

export interface ForeignKey {
  columns: string[];
  parent: string;
  parentColumns: string[];
}

export interface TenantTable {
  name: string;
  /** How a row is tied to a tenant: its own tenant_id, being the tenants table, or a foreign key. */
  kind: "tenant_id" | "tenants" | "foreign_key";
  /** For kind foreign_key: the foreign key through which the rows belong to a tenant. */
  via?: ForeignKey;
  rls: boolean;
  forced: boolean;
  owner: string;
  policies: number;
  columns: Column[];
  foreignKeys: ForeignKey[];
  /** CHECK constraints on a single column, by column: their definitions. */
  checks: Map<string, string[]>;
  canSelect: boolean;
  canInsert: boolean;
  canUpdate: boolean;
  canDelete: boolean;
}

export interface Policy {
  table: string;
  name: string;
  permissive: boolean;
  roles: string[];
  command: string;
  using: string | null;
  withCheck: string | null;
}

export interface TenantView {
  name: string;
  owner: string;
  securityInvoker: boolean;
  hasTenantId: boolean;
  reads: string[];
}

export interface DefinerFunction {
  signature: string;
  name: string;
  arguments: number;
  owner: string;
  returnsSet: boolean;
  /** Why its owner can read across tenants, or null when nothing says it can. */
  ownerBypass: string | null;
}

export interface Catalog {
  role: { name: string; superuser: boolean; bypassRls: boolean };
  tables: TenantTable[];
  /** Permissive policies on tenant tables that apply to the probing role (directly, via PUBLIC or a membership). */
  applicablePolicies: Policy[];
  views: TenantView[];
  definers: DefinerFunction[];
}

const TABLES_SQL = `
SELECT c.oid::int AS oid, c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       pg_get_userbyid(c.relowner) AS owner,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS policies,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                  AND NOT a.attisdropped) AS has_tenant_id,
       has_table_privilege(c.oid, 'SELECT') AS can_select, has_table_privilege(c.oid, 'INSERT') AS can_insert,
       has_table_privilege(c.oid, 'UPDATE') OR has_any_column_privilege(c.oid, 'UPDATE') AS can_update,
       has_table_privilege(c.oid, 'DELETE') AS can_delete
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY c.relname`;

const COLUMNS_SQL = `
SELECT a.attrelid::int AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       t.typtype, t.typcategory AS category, a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' AS has_default, a.attgenerated <> '' AS generated,
       has_column_privilege(a.attrelid, a.attnum, 'UPDATE') AS updatable,
       coalesce((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e
                  WHERE e.enumtypid = a.atttypid), '{}') AS enum_labels
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum`;

const CONSTRAINTS_SQL = `
SELECT k.conrelid::int AS oid, k.contype AS type, pg_get_constraintdef(k.oid) AS definition,
       (SELECT array_agg(a.attname::text ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n) AS columns,
       f.relname AS parent,
       (SELECT array_agg(a.attname::text ORDER BY u.i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n) AS parent_columns
  FROM pg_constraint k LEFT JOIN pg_class f ON f.oid = k.confrelid
 WHERE k.conrelid = ANY($1::oid[]) AND k.contype IN ('f', 'c')
 ORDER BY k.conname`;

const POLICIES_SQL = `
SELECT tablename AS table, policyname AS name, permissive = 'PERMISSIVE' AS permissive, roles::text[] AS roles,
       cmd AS command, qual AS using, with_check
  FROM pg_policies
 WHERE schemaname = current_schema()
   AND ('public' = ANY (roles)
        OR EXISTS (SELECT 1 FROM unnest(roles) r WHERE r <> 'public' AND pg_has_role(current_user, r, 'MEMBER')))`;

const VIEWS_SQL = `
SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner,
       coalesce((SELECT option_value IN ('true', 'on', '1', 'yes')
                   FROM pg_options_to_table(c.reloptions) WHERE option_name = 'security_invoker'), false)
         AS security_invoker,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                  AND NOT a.attisdropped) AS has_tenant_id,
       coalesce((SELECT array_agg(DISTINCT d.refobjid::regclass::text) FROM pg_rewrite r
                   JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  WHERE r.ev_class = c.oid AND d.refobjid <> c.oid AND d.refclassid = 'pg_class'::regclass),
                '{}') AS reads
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') AND has_table_privilege(c.oid, 'SELECT')
 ORDER BY c.relname`;

const DEFINERS_SQL = `
SELECT p.oid::regprocedure::text AS signature, p.proname::text AS name, p.pronargs::int AS arguments,
       pg_get_userbyid(p.proowner) AS owner, p.proretset AS returns_set,
       r.rolsuper AS owner_superuser, r.rolbypassrls AS owner_bypassrls
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
 WHERE n.nspname = current_schema() AND p.prosecdef AND has_function_privilege(p.oid, 'EXECUTE')
 ORDER BY 1`;

/** A policy that lets every row through: no condition, or the literal true. */
export function isOpen(expression: string | null): boolean {
  return expression === null || /^\(*true\)*$/i.test(expression.trim());
}

export async function readCatalog(client: pg.Client | pg.PoolClient): Promise<Catalog> {
  const role = (
    await client.query<{ name: string; superuser: boolean; bypassRls: boolean }>(
      `SELECT rolname AS name, rolsuper AS superuser, rolbypassrls AS "bypassRls"
         FROM pg_roles WHERE rolname = current_user`,
    )
  ).rows[0];
  if (!role) throw new Error("cannot read the current role from pg_roles");

  const all = (
    await client.query<{
      oid: number;
      name: string;
      rls: boolean;
      forced: boolean;
      owner: string;
      policies: number;
      has_tenant_id: boolean;
      can_select: boolean;
      can_insert: boolean;
      can_update: boolean;
      can_delete: boolean;
    }>(TABLES_SQL)
  ).rows;
  const oids = all.map((t) => t.oid);
  const columns = (
    await client.query<{
      oid: number;
      name: string;
      type: string;
      typtype: string;
      category: string;
      not_null: boolean;
      has_default: boolean;
      generated: boolean;
      updatable: boolean;
      enum_labels: string[];
    }>(COLUMNS_SQL, [oids])
  ).rows;
  const constraints = (
    await client.query<{
      oid: number;
      type: string;
      definition: string;
      columns: string[] | null;
      parent: string | null;
      parent_columns: string[] | null;
    }>(CONSTRAINTS_SQL, [oids])
  ).rows;

  const foreignKeysOf = new Map<number, ForeignKey[]>();
  const checksOf = new Map<number, Map<string, string[]>>();
  for (const k of constraints) {
    if (k.type === "f" && k.parent && k.columns && k.parent_columns) {
      const list = foreignKeysOf.get(k.oid) ?? [];
      list.push({ columns: k.columns, parent: k.parent, parentColumns: k.parent_columns });
      foreignKeysOf.set(k.oid, list);
    } else if (k.type === "c" && k.columns?.length === 1) {
      const byColumn = checksOf.get(k.oid) ?? new Map<string, string[]>();
      const column = k.columns[0] as string;
      byColumn.set(column, [...(byColumn.get(column) ?? []), k.definition]);
      checksOf.set(k.oid, byColumn);
    }
  }

  // Tenant tables: tenant_id or the tenants table, then every table holding a foreign key into one of
  // them (transitively), so a child table that forgot its tenant_id is still covered.
  const kinds = new Map<string, { kind: TenantTable["kind"]; via?: ForeignKey }>();
  for (const t of all) {
    if (t.name === "tenants") kinds.set(t.name, { kind: "tenants" });
    else if (t.has_tenant_id) kinds.set(t.name, { kind: "tenant_id" });
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const t of all) {
      if (kinds.has(t.name)) continue;
      const via = (foreignKeysOf.get(t.oid) ?? []).find((fk) => kinds.has(fk.parent) && fk.parent !== t.name);
      if (via) {
        kinds.set(t.name, { kind: "foreign_key", via });
        grew = true;
      }
    }
  }

  const tables: TenantTable[] = all
    .filter((t) => kinds.has(t.name))
    .map((t) => ({
      name: t.name,
      ...(kinds.get(t.name) as { kind: TenantTable["kind"]; via?: ForeignKey }),
      rls: t.rls,
      forced: t.forced,
      owner: t.owner,
      policies: t.policies,
      columns: columns
        .filter((c) => c.oid === t.oid)
        .map((c) => ({
          name: c.name,
          type: c.type,
          typtype: c.typtype,
          category: c.category,
          notNull: c.not_null,
          hasDefault: c.has_default,
          generated: c.generated,
          updatable: c.updatable,
          enumLabels: c.enum_labels,
        })),
      foreignKeys: foreignKeysOf.get(t.oid) ?? [],
      checks: checksOf.get(t.oid) ?? new Map(),
      canSelect: t.can_select,
      canInsert: t.can_insert,
      canUpdate: t.can_update,
      canDelete: t.can_delete,
    }));
  const tenantNames = new Set(tables.map((t) => t.name));

  const applicablePolicies = (await client.query<Policy>(POLICIES_SQL)).rows
    .map((p) => ({ ...p, withCheck: (p as unknown as { with_check: string | null }).with_check }))
    .filter((p) => p.permissive && tenantNames.has(p.table));

  const views = (
    await client.query<{
      name: string;
      owner: string;
      security_invoker: boolean;
      has_tenant_id: boolean;
      reads: string[];
    }>(VIEWS_SQL)
  ).rows
    .map((v) => ({
      name: v.name,
      owner: v.owner,
      securityInvoker: v.security_invoker,
      hasTenantId: v.has_tenant_id,
      reads: v.reads.filter((r) => tenantNames.has(r.replace(/^.*\./, "").replace(/"/g, ""))),
    }))
    .filter((v) => v.reads.length > 0 || v.hasTenantId);

  // Who can read across tenants: a superuser or BYPASSRLS owner, the owner of a tenant table that is
  // not FORCE'd, or a role with an unconditional policy on a tenant table.
  const definerRows = (
    await client.query<{
      signature: string;
      name: string;
      arguments: number;
      owner: string;
      returns_set: boolean;
      owner_superuser: boolean;
      owner_bypassrls: boolean;
    }>(DEFINERS_SQL)
  ).rows;
  const openPolicies = definerRows.length
    ? (
        await client.query<{ table: string; name: string; roles: string[]; using: string | null }>(
          `SELECT tablename AS table, policyname AS name, roles::text[] AS roles, qual AS using
             FROM pg_policies WHERE schemaname = current_schema() AND permissive = 'PERMISSIVE'`,
        )
      ).rows.filter((p) => tenantNames.has(p.table) && isOpen(p.using))
    : [];
  const definers = definerRows.map((d) => {
    let ownerBypass: string | null = null;
    if (d.owner_superuser) ownerBypass = `its owner ${d.owner} is SUPERUSER`;
    else if (d.owner_bypassrls) ownerBypass = `its owner ${d.owner} has BYPASSRLS`;
    else {
      const unforced = tables.find((t) => t.owner === d.owner && !t.forced);
      const open = openPolicies.find((p) => p.roles.includes(d.owner) || p.roles.includes("public"));
      if (unforced) ownerBypass = `its owner ${d.owner} owns ${unforced.name}, which is not FORCE'd`;
      else if (open)
        ownerBypass = `its owner ${d.owner} reads every row of ${open.table} (policy ${open.name})`;
    }
    return {
      signature: d.signature,
      name: d.name,
      arguments: d.arguments,
      owner: d.owner,
      returnsSet: d.returns_set,
      ownerBypass,
    };
  });

  return { role, tables, applicablePolicies, views, definers };
}
