// Fulfilment of a verified request, as the runner's dsr_fulfil agent task. The request is marked
// in_progress (with its event) before anything irreversible happens, and every later step can be
// repeated by a retried task: a bundle already stored is reused; a subject erasure, its scan, its
// tombstones and the completion commit in one transaction; a tenant erasure removes the document
// files first (removing a removed version is a no-op) and then erases the rows in one transaction.
import pg from "pg";
import { withTenant } from "../../db/pool.ts";
import type { RegionRole } from "../../region.ts";
import { PermanentTaskError, type AgentTaskHandler } from "../../runner/runner.ts";
import { buildBundle, type DocumentSource } from "./bundle.ts";
import {
  eraseSubject,
  eraseTenant,
  linkedIdentifiers,
  objectsToErase,
  type SubjectIdentifiers,
} from "./erase.ts";
import {
  completeRequest,
  DsrError,
  findRequest,
  requestSubject,
  startRequest,
  type DsrRequest,
} from "./lifecycle.ts";

/** What fulfilment needs of the documents buckets: read a file, remove a version for good. */
export interface DocumentFiles extends DocumentSource {
  discard(role: RegionRole, key: string, versionId: string | undefined): Promise<void>;
}

export interface FulfilOptions {
  pool: pg.Pool;
  /** Absent where no documents buckets are configured: then a tenant with documents cannot be fulfilled. */
  documents?: DocumentFiles;
  /** Who the events name as having done it. */
  actor: string;
}

async function accessRequest(options: FulfilOptions, request: DsrRequest): Promise<Record<string, unknown>> {
  const { pool } = options;
  const stored = await withTenant(pool, request.tenantId, (db) =>
    db.query<{
      bytes: number;
      sha256: string;
      manifest: { files: { table?: string; rows?: number; documentId?: string }[] };
    }>("SELECT bytes, sha256, manifest FROM dsr_bundles WHERE request_id = $1", [request.id]),
  );
  let summary = stored.rows[0];
  if (!summary) {
    const subject = requestSubject(request);
    let identifiers: SubjectIdentifiers | undefined;
    if (subject)
      identifiers = await withTenant(pool, request.tenantId, (db) => linkedIdentifiers(db, subject));
    const bundle = await buildBundle(
      pool,
      { requestId: request.id, tenantId: request.tenantId, subject: identifiers },
      options.documents,
    );
    await withTenant(pool, request.tenantId, (db) =>
      db.query(
        `INSERT INTO dsr_bundles (request_id, tenant_id, archive, bytes, sha256, manifest)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING`,
        [
          request.id,
          request.tenantId,
          bundle.archive,
          bundle.archive.length,
          bundle.sha256,
          JSON.stringify(bundle.manifest),
        ],
      ),
    );
    summary = { bytes: bundle.archive.length, sha256: bundle.sha256, manifest: bundle.manifest };
  }
  const files = summary.manifest.files;
  return {
    bytes: summary.bytes,
    sha256: summary.sha256,
    rows: Object.fromEntries(files.filter((f) => f.table).map((f) => [f.table!, f.rows!])),
    documents: files.filter((f) => f.documentId).length,
  };
}

async function removeFiles(options: FulfilOptions, request: DsrRequest): Promise<number> {
  const objects = await withTenant(options.pool, request.tenantId, (db) => objectsToErase(db));
  if (objects.length && !options.documents)
    throw new DsrError(
      "incomplete",
      `the tenant has ${objects.length} document files to erase but this process has no documents buckets: ` +
        "set DOCUMENTS_BUCKET_PRIMARY and DOCUMENTS_BUCKET_SECONDARY",
    );
  for (const object of objects) {
    // Both regions' buckets: replication copies versions, it does not delete them in the replica.
    for (const role of ["primary", "secondary"] as const)
      await options.documents!.discard(role, object.key, object.versionId ?? undefined);
  }
  return objects.length;
}

/** Fulfils request `id` of `tenantId`; a completed or denied request is left as it is. */
export async function fulfilRequest(
  options: FulfilOptions,
  tenantId: string,
  id: string,
): Promise<DsrRequest> {
  const { pool, actor } = options;
  const found = await withTenant(pool, tenantId, (db) => findRequest(db, id));
  if (!found) throw new DsrError("not-found", `no data subject request ${id} for tenant ${tenantId}`);
  if (found.status === "completed" || found.status === "denied") return found;
  const request = await withTenant(pool, tenantId, (db) => startRequest(db, id, actor));
  if (request.kind === "access") {
    const outcome = await accessRequest(options, request);
    return withTenant(pool, tenantId, (db) => completeRequest(db, id, actor, outcome));
  }
  const subject = requestSubject(request);
  if (subject)
    return withTenant(pool, tenantId, async (db) => {
      const erased = await eraseSubject(db, tenantId, id, subject);
      return completeRequest(db, id, actor, { ...erased });
    });
  const files = await removeFiles(options, request);
  return withTenant(pool, tenantId, async (db) => {
    const erased = await eraseTenant(db, tenantId, id);
    return completeRequest(db, id, actor, { ...erased, documentFilesRemoved: files });
  });
}

/** The runner's dsr_fulfil handler: payload { requestId }. */
export function dsrFulfilHandler(options: Omit<FulfilOptions, "actor">): AgentTaskHandler {
  return async (task, { log }) => {
    const requestId = task.payload.requestId;
    if (typeof requestId !== "string")
      throw new PermanentTaskError(
        `dsr_fulfil payload needs requestId (a UUID); got ${JSON.stringify(task.payload)}`,
      );
    try {
      const done = await fulfilRequest({ ...options, actor: "runner" }, task.tenantId, requestId);
      log.info(
        { request: done.id, kind: done.kind, scope: done.scope, status: done.status },
        "data subject request fulfilled",
      );
    } catch (error) {
      // A refusal (not verified, plan incomplete, no buckets) is the same on every attempt.
      if (error instanceof DsrError) throw new PermanentTaskError(error.message);
      throw error;
    }
  };
}
