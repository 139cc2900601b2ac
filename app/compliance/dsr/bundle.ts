// An access request's export bundle: a .tar.gz with one JSON file per table (an array of rows), the
// files of the tenant's documents, and manifest.json listing every file with its size and SHA-256,
// so the receiver can check nothing was changed or lost. Read in one REPEATABLE READ snapshot in the
// tenant's row-security context (as the runner: every tenant table, without what would replay a
// credential). A deleted Tenant's data_export task builds its whole-tenant bundle here too. An end user's bundle holds the plan's tables' rows that
// name them; a tenant's holds every tenant table and every available document.
import { createHash } from "node:crypto";
import pg from "pg";
import type { RegionRole } from "../../region.ts";
import { DsrError } from "./lifecycle.ts";
import { ERASURE_PLAN } from "./plan.ts";
import { subjectWhere, type SubjectIdentifiers } from "./erase.ts";
import { TarGzWriter } from "./tar.ts";

/** Documents read from S3 at once: the bucket's latency, not its bandwidth, is the bound. */
const DOCUMENT_READS_IN_FLIGHT = 16;
/** Archives and links: about the export, not the tenant's data. */
const NOT_EXPORTED = new Set(["data_exports", "dsr_bundles", "dsr_export_links"]);

/**
 * The tables whose rows belong to a tenant (the RLS probe's definition), as this role sees the
 * catalog: read at export time, so a table added later is exported without a code change.
 */
export const TENANT_TABLES_SQL = `
SELECT c.oid::regclass::text AS qualified, c.relname AS name,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE has_column_privilege(c.oid, a.attnum, 'SELECT')), '{}'::text[]) AS readable,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE NOT has_column_privilege(c.oid, a.attnum, 'SELECT')), '{}'::text[]) AS omitted
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped)
 GROUP BY c.oid, c.relname
 ORDER BY c.relname`;

/** Where document bytes come from: the documents buckets (app/documents/storage.ts DocumentStore). */
export interface DocumentSource {
  read(role: RegionRole, key: string, versionId: string | undefined): Promise<Buffer>;
}

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
  /** Table files: the table and its row count. */
  table?: string;
  rows?: number;
  /** Document files: the document and its name as uploaded. */
  documentId?: string;
  fileName?: string;
}

export interface BundleManifest {
  format: "freight-dsr-export";
  version: 1;
  requestId: string;
  tenantId: string;
  scope: "subject" | "tenant";
  createdAt: string;
  /** Columns left out per table (credentials' hashes), as in the data_export archive. */
  omittedColumns: Record<string, string[]>;
  files: ManifestFile[];
}

export interface Bundle {
  archive: Buffer;
  sha256: string;
  manifest: BundleManifest;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const other = (role: RegionRole): RegionRole => (role === "primary" ? "secondary" : "primary");

/** A document's name inside the archive: its id, and as much of its own name as tar allows. */
export function documentPath(id: string, fileName: string): string {
  return `documents/${id}-${fileName.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 50)}`;
}

interface DocumentRow {
  id: string;
  object_key: string;
  version_id: string | null;
  stored_in: RegionRole;
  file_name: string;
  sha256: string;
}

async function readDocument(source: DocumentSource, doc: DocumentRow): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await source.read(doc.stored_in, doc.object_key, doc.version_id ?? undefined);
  } catch {
    // The replica in the other region has the same version (bucket replication keeps version ids).
    bytes = await source.read(other(doc.stored_in), doc.object_key, doc.version_id ?? undefined);
  }
  if (createHash("sha256").update(bytes).digest("base64") !== doc.sha256)
    throw new DsrError(
      "incomplete",
      `document ${doc.id} read back with a different SHA-256 than was recorded at upload: the bundle would carry a ` +
        "changed file; check the object's versions in the documents bucket",
    );
  return bytes;
}

/** Reads `rows` ahead with a bounded number of reads in flight, yielding in order. */
async function* inOrder<T, R>(rows: T[], read: (row: T) => Promise<R>, inFlight: number) {
  const pending: Promise<R>[] = [];
  let next = 0;
  const fill = () => {
    while (pending.length < inFlight && next < rows.length) {
      const promise = read(rows[next++]!);
      promise.catch(() => undefined); // awaited in turn below; not an unhandled rejection meanwhile
      pending.push(promise);
    }
  };
  fill();
  while (pending.length) {
    const value = await pending.shift()!;
    fill();
    yield value;
  }
}

export interface BundleRequest {
  requestId: string;
  tenantId: string;
  /** Absent: the whole tenant. */
  subject?: SubjectIdentifiers;
}

/** Builds the bundle on `pool` (the runner's), in the tenant's context. */
export async function buildBundle(
  pool: pg.Pool,
  request: BundleRequest,
  documents: DocumentSource | undefined,
): Promise<Bundle> {
  const db = await pool.connect();
  const createdAt = new Date();
  const tar = new TarGzWriter(createdAt);
  const files: ManifestFile[] = [];
  let broken: Error | undefined;
  const add = async (file: Omit<ManifestFile, "bytes" | "sha256">, bytes: Buffer) => {
    await tar.add(file.path, bytes);
    files.push({ ...file, bytes: bytes.length, sha256: sha256(bytes) });
  };
  try {
    await db.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT set_config('app.tenant_id', ${pg.escapeLiteral(request.tenantId)}, true)`,
    );
    const { rows: catalog } = await db.query<{ name: string; readable: string[]; omitted: string[] }>(
      TENANT_TABLES_SQL,
    );
    const byName = new Map(catalog.map((t) => [t.name, t]));
    const selects: { table: string; sql: string; params: unknown[] }[] = [];
    if (request.subject) {
      for (const plan of ERASURE_PLAN) {
        const match = subjectWhere(plan.subject?.match, request.subject);
        const table = byName.get(plan.table);
        if (!match || !table) continue;
        selects.push({
          table: plan.table,
          sql: `SELECT ${table.readable.map((c) => pg.escapeIdentifier(c)).join(", ")} FROM ${plan.table}
                 WHERE tenant_id = current_tenant_id() AND ${match.sql}`,
          params: match.params,
        });
      }
    } else {
      const unreadable = catalog.filter(
        (t) => !NOT_EXPORTED.has(t.name) && !t.readable.includes("tenant_id"),
      );
      if (unreadable.length)
        throw new DsrError(
          "incomplete",
          `the runner cannot read tenant table(s) ${unreadable.map((t) => t.name).join(", ")}, so the export would be incomplete; ` +
            "protect each with protect_tenant_table() (it grants the runner the export read) in a migration",
        );
      selects.push({
        table: "tenants",
        sql: "SELECT * FROM tenants WHERE id = current_tenant_id()",
        params: [],
      });
      for (const table of catalog) {
        if (NOT_EXPORTED.has(table.name)) continue;
        selects.push({
          table: table.name,
          sql: `SELECT ${table.readable.map((c) => pg.escapeIdentifier(c)).join(", ")} FROM ${table.name}
                 WHERE tenant_id = current_tenant_id()`,
          params: [],
        });
      }
    }
    for (const select of selects) {
      const { rows } = await db.query<{ json: string; n: number }>(
        `SELECT coalesce(json_agg(r), '[]')::text AS json, count(*)::int AS n FROM (${select.sql}) r`,
        select.params,
      );
      await add(
        { path: `tables/${select.table}.json`, table: select.table, rows: rows[0]!.n },
        Buffer.from(rows[0]!.json),
      );
    }
    if (!request.subject) {
      const { rows: docs } = await db.query<DocumentRow>(
        `SELECT id, object_key, version_id, stored_in, file_name, sha256 FROM documents
          WHERE tenant_id = current_tenant_id() AND state = 'available' ORDER BY created_at, id`,
      );
      if (docs.length && !documents)
        throw new DsrError(
          "incomplete",
          `the tenant has ${docs.length} documents but this process has no documents buckets to read them from: ` +
            "set DOCUMENTS_BUCKET_PRIMARY and DOCUMENTS_BUCKET_SECONDARY",
        );
      let index = 0;
      for await (const bytes of inOrder(
        docs,
        (doc) => readDocument(documents!, doc),
        DOCUMENT_READS_IN_FLIGHT,
      )) {
        const doc = docs[index++]!;
        await add(
          { path: documentPath(doc.id, doc.file_name), documentId: doc.id, fileName: doc.file_name },
          bytes,
        );
      }
    }
    await db.query("COMMIT");
    const manifest: BundleManifest = {
      format: "freight-dsr-export",
      version: 1,
      requestId: request.requestId,
      tenantId: request.tenantId,
      scope: request.subject ? "subject" : "tenant",
      createdAt: createdAt.toISOString(),
      omittedColumns: Object.fromEntries(
        catalog
          .filter((t) => t.omitted.length && selects.some((s) => s.table === t.name))
          .map((t) => [t.name, t.omitted]),
      ),
      files,
    };
    await tar.add("manifest.json", Buffer.from(JSON.stringify(manifest, null, 2)));
    const archive = await tar.finish();
    return { archive, sha256: sha256(archive), manifest };
  } catch (error) {
    tar.destroy();
    await db.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
    throw error;
  } finally {
    db.release(broken);
  }
}
