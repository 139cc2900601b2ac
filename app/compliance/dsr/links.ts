// Signed, expiring links to an access request's bundle. A link is the API's own URL with a random
// token; only the token's SHA-256 is stored, with its expiry and tenant, so a leaked database row
// cannot be turned into a download. Fetching the link needs the tenant's API key as well: another
// tenant's key finds no such request (row security), and an expired link is refused with how to get
// a fresh one. Each link issued and used is an event of the request.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../../db/pool.ts";
import { DsrError, findRequest, recordEvent, type DsrRequest } from "./lifecycle.ts";

const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

export interface ExportLink {
  path: string;
  expiresAt: Date;
}

async function completedAccess(db: Db, id: string): Promise<DsrRequest> {
  const request = await findRequest(db, id);
  if (!request) throw new DsrError("not-found", `no data subject request ${id}`);
  if (request.kind !== "access")
    throw new DsrError("invalid-transition", `request ${id} is an erasure: it has no export bundle`);
  if (request.status !== "completed")
    throw new DsrError(
      request.status === "received" ? "not-verified" : "invalid-transition",
      `request ${id} is ${request.status}; its export link exists once it is completed`,
    );
  return request;
}

/** A new link to the bundle of request `id` (tenant in context), good for `ttlSeconds`. */
export async function issueExportLink(
  db: Db,
  id: string,
  actor: string,
  ttlSeconds: number,
): Promise<ExportLink> {
  const request = await completedAccess(db, id);
  const token = randomBytes(32).toString("base64url");
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO dsr_export_links (token_hash, request_id, tenant_id, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
    [hashToken(token), id, request.tenantId, ttlSeconds],
  );
  const expiresAt = rows[0]!.expires_at;
  await recordEvent(db, request, "link_issued", actor, { expiresAt: expiresAt.toISOString() });
  return { path: `/v1/data-requests/${id}/export?token=${token}`, expiresAt };
}

/** The bundle behind a link, if the token is this request's and has not expired. */
export async function redeemExportLink(
  db: Db,
  id: string,
  token: string,
  actor: string,
): Promise<{ archive: Buffer; sha256: string }> {
  const request = await completedAccess(db, id);
  const { rows } = await db.query<{ expired: boolean; expires_at: Date }>(
    `SELECT expires_at <= now() AS expired, expires_at FROM dsr_export_links WHERE token_hash = $1 AND request_id = $2`,
    [hashToken(token), id],
  );
  const link = rows[0];
  if (!link)
    throw new DsrError(
      "not-found",
      `this link is not one issued for request ${id}; ask for a new one with GET /v1/data-requests/${id}`,
    );
  if (link.expired)
    throw new DsrError(
      "link-expired",
      `this export link expired at ${link.expires_at.toISOString()}; ask for a fresh one with GET /v1/data-requests/${id}`,
    );
  const { rows: bundles } = await db.query<{ archive: Buffer; sha256: string }>(
    "SELECT archive, sha256 FROM dsr_bundles WHERE request_id = $1",
    [id],
  );
  if (!bundles[0]) throw new DsrError("not-found", `request ${id} has no bundle stored`);
  await recordEvent(db, request, "link_used", actor);
  return bundles[0];
}
