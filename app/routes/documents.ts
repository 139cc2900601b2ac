// Documents attached to a booking: an upload URL, the upload's confirmation, the list, a download URL,
// and delete. The bytes go straight between the caller and S3 through presigned URLs; the API signs
// only for objects whose row it read in the caller's own tenant context (row-level security), under a
// key it derived itself, so no id or key another tenant sends can make it sign for this one's objects.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { DOCUMENT_CONTENT_TYPES, DOCUMENT_KINDS, fileNameProblems } from "../documents/names.ts";
import type { DocumentStore, SignedUpload } from "../documents/storage.ts";
import type { AppContext } from "../http/app.ts";
import { refuseActionBody } from "../http/boundary.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem, validationProblem } from "../http/problem.ts";
import { peerRole, REGION_ROLES, type RegionRole } from "../region.ts";

const bookingParams = z.strictObject({ bookingId: z.uuid("must be a booking id (UUID)") });
const documentParams = z.strictObject({ id: z.uuid("must be a document id (UUID)") });

export function newDocumentRequest(maxBytes: number) {
  return z.strictObject({
    kind: z.enum(DOCUMENT_KINDS, `must be one of ${DOCUMENT_KINDS.join(", ")}`),
    fileName: z.string("must be the file's name, e.g. pod-4471.pdf"),
    contentType: z.enum(
      DOCUMENT_CONTENT_TYPES,
      `must be one of ${DOCUMENT_CONTENT_TYPES.join(", ")}; convert other formats to PDF`,
    ),
    sizeBytes: z
      .number("must be the file's size in bytes")
      .int("must be a whole number of bytes")
      .min(1, "must be at least 1 byte")
      .max(maxBytes, `must be at most ${maxBytes} bytes; split or compress the document`),
    sha256: z
      .string("must be the file's SHA-256, base64-encoded")
      .regex(/^[A-Za-z0-9+/]{43}=$/, "must be the file's SHA-256 in base64 (44 characters ending in '=')"),
  });
}

/** A document as the API answers it (and as the OpenAPI document describes it). */
export const documentView = z.strictObject({
  id: z.uuid(),
  bookingId: z.uuid(),
  kind: z.enum(DOCUMENT_KINDS),
  fileName: z.string(),
  contentType: z.enum(DOCUMENT_CONTENT_TYPES),
  sizeBytes: z.int(),
  sha256: z.string().describe("The file's SHA-256, base64"),
  state: z.enum(["pending", "available", "deleted"]),
  createdAt: z.iso.datetime(),
  confirmedAt: z.iso.datetime().nullable(),
});

const signedUrl = z.strictObject({ url: z.url(), expiresAt: z.iso.datetime() });

export const attachedDocumentView = documentView.extend({
  upload: signedUrl.extend({
    method: z.literal("PUT"),
    headers: z.record(z.string(), z.string()).describe("Send exactly these headers with the upload"),
  }),
});

export const documentWithDownloadView = documentView.extend({
  download: signedUrl
    .extend({ region: z.enum(REGION_ROLES).describe("The region whose bucket serves it") })
    .nullable()
    .describe("null until the upload is confirmed"),
});

export const documentListView = z.strictObject({ documents: z.array(documentView) });

interface DocumentRow {
  id: string;
  booking_id: string;
  kind: string;
  file_name: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  object_key: string;
  stored_in: RegionRole;
  state: "pending" | "available" | "deleted";
  version_id: string | null;
  upload_expires_at: Date;
  created_at: Date;
  confirmed_at: Date | null;
}

const COLUMNS = `id, booking_id, kind, file_name, content_type, size_bytes, sha256, object_key, stored_in, state,
  version_id, upload_expires_at, created_at, confirmed_at`;

function view(row: DocumentRow): z.infer<typeof documentView> {
  return {
    id: row.id,
    bookingId: row.booking_id,
    kind: row.kind as z.infer<typeof documentView>["kind"],
    fileName: row.file_name,
    contentType: row.content_type as z.infer<typeof documentView>["contentType"],
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    state: row.state,
    createdAt: row.created_at.toISOString(),
    confirmedAt: row.confirmed_at?.toISOString() ?? null,
  };
}

function storageUnavailable(error: unknown): Problem {
  return new Problem({
    type: "documents-storage-unavailable",
    title: "Document storage is not answering",
    status: 503,
    detail: `The documents bucket did not answer (${(error as Error).message}); nothing was changed. Retry in a few seconds.`,
  });
}

export const documentRoutes: FastifyPluginAsync<{ ctx: AppContext; store?: DocumentStore }> = async (
  plugin,
  { ctx, store: maybeStore },
) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const documents = { tag: "documents", auth: "api-key" } as const;
  const maxBytes = ctx.config.DOCUMENTS_MAX_BYTES;
  const newDocument = newDocumentRequest(maxBytes);

  const storeOrRefuse = (): DocumentStore => {
    if (maybeStore) return maybeStore;
    throw new Problem({
      type: "documents-not-enabled",
      title: "Documents are not enabled here",
      status: 404,
      detail: "This deployment has no documents buckets configured (DOCUMENTS_BUCKET_PRIMARY/SECONDARY).",
    });
  };

  /** The caller's document, locked for the rest of the transaction when `lock`. */
  const documentOf = async (db: Db, id: string, lock = false): Promise<DocumentRow> => {
    const { rows } = await db.query<DocumentRow>(
      `SELECT ${COLUMNS} FROM documents WHERE id = $1 AND state <> 'deleted'${lock ? " FOR UPDATE" : ""}`,
      [id],
    );
    if (!rows[0]) throw notFound(`Document ${id}`);
    return rows[0];
  };

  const attachContract = documented({
    ...documents,
    summary: "Attach a document to a booking: a presigned URL to upload the file to",
    description:
      "PUT the file to `upload.url` with `upload.headers` before `upload.expiresAt`, then confirm the document.",
    idempotent: true,
    params: bookingParams,
    body: newDocument,
    responses: {
      201: { description: "The pending document and its upload URL", body: attachedDocumentView },
    },
    problems: ["not-found", "documents-not-enabled", "documents-storage-unavailable"],
  });
  app.post("/v1/bookings/:bookingId/documents", attachContract, async (request, reply) => {
    const store = storeOrRefuse();
    const { bookingId } = request.params;
    const body = request.body;
    const nameProblems = fileNameProblems(body.fileName);
    if (nameProblems.length) throw validationProblem(nameProblems);
    return ctx.idempotent(request, reply, async (db) => {
      const booking = await db.query("SELECT 1 FROM bookings WHERE id = $1", [bookingId]);
      if (!booking.rowCount) throw notFound(`Booking ${bookingId}`);
      const storedIn = ctx.activeRegion();
      const { rows } = await db.query<DocumentRow>(
        `INSERT INTO documents (id, tenant_id, booking_id, kind, file_name, content_type, size_bytes, sha256,
                                object_key, stored_in, upload_expires_at)
         SELECT d.id, current_tenant_id(), $1, $2, $3, $4, $5, $6,
                'tenants/' || current_tenant_id() || '/documents/' || d.id, $7, now() + make_interval(secs => $8)
           FROM (SELECT gen_random_uuid() AS id) d
         RETURNING ${COLUMNS}`,
        [
          bookingId,
          body.kind,
          body.fileName,
          body.contentType,
          body.sizeBytes,
          body.sha256,
          storedIn,
          ctx.config.DOCUMENTS_UPLOAD_TTL_SECONDS,
        ],
      );
      const row = rows[0] as DocumentRow;
      const upload: SignedUpload = await store.uploadUrl(storedIn, {
        key: row.object_key,
        contentType: row.content_type,
        sizeBytes: row.size_bytes,
        sha256: row.sha256,
      });
      return {
        statusCode: 201,
        body: { ...view(row), upload: { ...upload, expiresAt: upload.expiresAt.toISOString() } },
      };
    });
  });

  const confirmContract = documented({
    ...documents,
    summary: "Confirm a document's upload: its size, type and SHA-256 are checked",
    description: "Takes no body (or {}).",
    params: documentParams,
    responses: { 200: { description: "The document, available", body: documentView } },
    problems: [
      "not-found",
      "documents-not-enabled",
      "documents-storage-unavailable",
      "document-already-confirmed",
      "document-not-uploaded",
      "document-upload-expired",
      "document-checksum-mismatch",
    ],
  });
  app.post("/v1/documents/:id/confirm", confirmContract, async (request) => {
    const store = storeOrRefuse();
    const { id } = request.params;
    refuseActionBody(request.body, "Confirming a document");
    const row = await ctx.asTenant(request, async (db) => {
      const document = await documentOf(db, id, true);
      if (document.state === "available") {
        throw new Problem({
          type: "document-already-confirmed",
          title: "Document already confirmed",
          status: 409,
          detail: `Document ${id} was confirmed at ${document.confirmed_at?.toISOString()}; its upload URL is spent. To replace it, delete it and attach a new one.`,
        });
      }
      let stored;
      try {
        stored = await store.inspect(document.stored_in, document.object_key);
      } catch (error) {
        throw storageUnavailable(error);
      }
      if (!stored) {
        if (document.upload_expires_at.getTime() < Date.now()) {
          throw new Problem({
            type: "document-upload-expired",
            title: "Upload URL expired",
            status: 410,
            detail: `The upload URL of document ${id} expired at ${document.upload_expires_at.toISOString()} before anything was uploaded. Attach the document again for a new URL.`,
          });
        }
        throw new Problem({
          type: "document-not-uploaded",
          title: "Nothing uploaded yet",
          status: 409,
          detail: `Nothing has been uploaded for document ${id} yet. PUT the file to its upload URL (with the signed headers) before ${document.upload_expires_at.toISOString()}, then confirm.`,
        });
      }
      const sha256 =
        stored.sha256 ?? (await store.digest(document.stored_in, document.object_key, stored.versionId));
      const mismatches = [
        stored.sizeBytes !== document.size_bytes &&
          `size ${stored.sizeBytes} bytes, declared ${document.size_bytes}`,
        stored.contentType !== document.content_type &&
          `content type ${stored.contentType}, declared ${document.content_type}`,
        sha256 !== document.sha256 && `SHA-256 ${sha256}, declared ${document.sha256}`,
      ].filter(Boolean);
      if (mismatches.length) {
        // The object is not this document: remove it, so nothing half-registered stays behind.
        await store.discard(document.stored_in, document.object_key, stored.versionId);
        throw new Problem({
          type: "document-checksum-mismatch",
          title: "The upload is not the declared file",
          status: 422,
          detail: `The uploaded object does not match the declared file (${mismatches.join("; ")}); it was removed. Attach the document again with the file's real size, type and SHA-256.`,
        });
      }
      const { rows } = await db.query<DocumentRow>(
        `UPDATE documents SET state = 'available', version_id = $2, confirmed_at = now() WHERE id = $1
         RETURNING ${COLUMNS}`,
        [id, stored.versionId ?? null],
      );
      return rows[0] as DocumentRow;
    });
    return view(row);
  });

  const listContract = documented({
    ...documents,
    summary: "A booking's documents (available, and pending ones whose upload URL still works)",
    params: bookingParams,
    responses: { 200: { description: "The documents, oldest first", body: documentListView } },
    problems: ["not-found", "documents-not-enabled"],
  });
  app.get("/v1/bookings/:bookingId/documents", listContract, async (request) => {
    storeOrRefuse();
    const { bookingId } = request.params;
    const rows = await ctx.asTenant(request, async (db) => {
      const booking = await db.query("SELECT 1 FROM bookings WHERE id = $1", [bookingId]);
      if (!booking.rowCount) throw notFound(`Booking ${bookingId}`);
      const result = await db.query<DocumentRow>(
        `SELECT ${COLUMNS} FROM documents
          WHERE booking_id = $1 AND (state = 'available' OR (state = 'pending' AND upload_expires_at > now()))
          ORDER BY created_at, id`,
        [bookingId],
      );
      return result.rows;
    });
    return { documents: rows.map(view) };
  });

  const readContract = documented({
    ...documents,
    summary: "A document, with a presigned download URL once it is available",
    params: documentParams,
    responses: { 200: { description: "The document", body: documentWithDownloadView } },
    problems: ["not-found", "documents-not-enabled", "documents-storage-unavailable"],
  });
  app.get("/v1/documents/:id", readContract, async (request) => {
    const store = storeOrRefuse();
    const { id } = request.params;
    const row = await ctx.asTenant(request, (db) => documentOf(db, id));
    if (row.state !== "available") return { ...view(row), download: null };
    return { ...view(row), download: await downloadFrom(store, row) };
  });

  const deleteContract = documented({
    ...documents,
    summary: "Delete a document and its stored file",
    params: documentParams,
    responses: { 204: { description: "Deleted" } },
    problems: ["not-found", "documents-not-enabled", "documents-storage-unavailable"],
  });
  app.delete("/v1/documents/:id", deleteContract, async (request, reply) => {
    const store = storeOrRefuse();
    const { id } = request.params;
    await ctx.asTenant(request, async (db) => {
      const document = await documentOf(db, id, true);
      try {
        await store.remove(document.stored_in, document.object_key);
      } catch (error) {
        throw storageUnavailable(error);
      }
      await db.query("UPDATE documents SET state = 'deleted', deleted_at = now() WHERE id = $1", [id]);
    });
    return reply.code(204).send();
  });

  /**
   * From the bucket that took the upload, pinned to the confirmed version; when that bucket does not
   * answer, from the other region's replica if it holds the same bytes (replication keeps versions).
   */
  async function downloadFrom(store: DocumentStore, row: DocumentRow) {
    const target = {
      key: row.object_key,
      fileName: row.file_name,
      contentType: row.content_type,
    };
    if (store.answering(row.stored_in)) {
      const signed = await store.downloadUrl(row.stored_in, {
        ...target,
        versionId: row.version_id ?? undefined,
      });
      return { url: signed.url, expiresAt: signed.expiresAt.toISOString(), region: row.stored_in };
    }
    const replica = peerRole(row.stored_in);
    const copy = await store.inspect(replica, row.object_key).catch(() => null);
    if (
      !copy ||
      copy.sizeBytes !== row.size_bytes ||
      (copy.sha256 !== undefined && copy.sha256 !== row.sha256)
    ) {
      throw new Problem(
        {
          type: "documents-storage-unavailable",
          title: "Document storage is not answering",
          status: 503,
          detail: `The ${row.stored_in} region's documents bucket is not answering and document ${row.id} has not replicated to the ${replica} region yet. Retry in a minute.`,
        },
        { "retry-after": "30" },
      );
    }
    const signed = await store.downloadUrl(replica, { ...target, versionId: copy.versionId });
    return { url: signed.url, expiresAt: signed.expiresAt.toISOString(), region: replica };
  }
};
