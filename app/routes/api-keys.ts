// API key management (admin scope): create (the key is in this one answer and never again), list
// (prefix, name, scopes, dates: never the hash or the key), rotate (a new key; the old one works on
// for a grace period the caller picks, then stops) and revoke (at once, on every replica: the
// api_key_changed trigger notifies each replica's auth cache). Schemas are exported for the API
// contract. Nothing here logs a key or its hash.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import type { AppContext } from "../http/app.ts";
import { generateApiKey, SCOPES } from "../http/auth.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem } from "../http/problem.ts";

/** The longest a rotated-out key may keep working: long enough to roll a fleet, short enough to matter. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600;
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;
const MAX_KEY_LIFETIME_MS = 2 * 366 * 24 * 3600 * 1000;

const scopesField = z
  .array(z.enum(SCOPES, `must be one of ${SCOPES.join(", ")}`), "must be a list of scopes")
  .min(1, "must name at least one scope")
  .transform((scopes) => SCOPES.filter((s) => scopes.includes(s)));
const nameField = z
  .string('must name the key, e.g. "ci-pipeline"')
  .trim()
  .min(1, "must not be empty")
  .max(100);
const expiresAtField = z.iso
  .datetime({ offset: true, error: "must be an ISO 8601 timestamp, e.g. 2027-06-30T00:00:00Z" })
  .refine((at) => Date.parse(at) > Date.now(), "must be in the future")
  .refine((at) => Date.parse(at) <= Date.now() + MAX_KEY_LIFETIME_MS, "must be at most 2 years away");

export const createApiKeyRequest = z.strictObject({
  name: nameField,
  scopes: scopesField.default(["read", "quote"]),
  expiresAt: expiresAtField.optional(),
});

export const rotateApiKeyRequest = z.strictObject({
  gracePeriodSeconds: z
    .number("must be a number of seconds")
    .int("must be a whole number of seconds")
    .min(0, "must be 0 (stop the old key now) or more")
    .max(MAX_ROTATION_GRACE_SECONDS, `must be at most ${MAX_ROTATION_GRACE_SECONDS} (7 days)`)
    .default(DEFAULT_ROTATION_GRACE_SECONDS),
  expiresAt: expiresAtField.optional(),
});

export const apiKeyIdParams = z.strictObject({ id: z.uuid("must be an API key id (UUID)") });

export const apiKeySummary = z.object({
  id: z.uuid(),
  prefix: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  status: z.enum(["active", "awaiting_verification", "expiring", "expired", "revoked"]),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  expiresAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
  rotatedFrom: z.uuid().nullable(),
});

/** The one answer that carries the key itself. */
export const apiKeyCreatedResponse = apiKeySummary.extend({ key: z.string() });
export const apiKeyListResponse = z.object({ apiKeys: z.array(apiKeySummary) });
export const apiKeyRotatedResponse = apiKeyCreatedResponse.extend({ previous: apiKeySummary });

interface KeyRow {
  id: string;
  key_prefix: string;
  label: string;
  scopes: (typeof SCOPES)[number][];
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  disabled_at: Date | null;
  rotated_from: string | null;
  awaiting_verification: boolean;
  now: Date;
}

const KEY_COLUMNS = `id, key_prefix, label, scopes, created_at, last_used_at, expires_at, disabled_at, rotated_from,
  awaiting_verification, now() AS now`;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function summary(row: KeyRow): z.infer<typeof apiKeySummary> {
  const now = row.now.getTime();
  const status = row.disabled_at
    ? "revoked"
    : row.expires_at && row.expires_at.getTime() <= now
      ? "expired"
      : row.awaiting_verification
        ? "awaiting_verification"
        : row.expires_at
          ? "expiring"
          : "active";
  return {
    id: row.id,
    prefix: row.key_prefix,
    name: row.label,
    scopes: row.scopes,
    status,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: iso(row.last_used_at),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.disabled_at),
    rotatedFrom: row.rotated_from,
  };
}

/**
 * Inserts a key for the transaction's tenant and returns it with its plaintext; the one place keys
 * are minted (signup's first key comes from here too).
 */
export async function insertApiKey(
  db: Db,
  tenantId: string,
  key: {
    name: string;
    scopes: readonly (typeof SCOPES)[number][];
    expiresAt?: string;
    rotatedFrom?: string;
    awaitingVerification?: boolean;
  },
): Promise<z.infer<typeof apiKeyCreatedResponse>> {
  const minted = generateApiKey("live");
  const { rows } = await db.query<KeyRow>(
    `INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label, scopes, expires_at, rotated_from, awaiting_verification)
     VALUES ($1, $2, decode($3, 'hex'), $4, $5, $6, $7, $8)
     RETURNING ${KEY_COLUMNS}`,
    [
      tenantId,
      minted.prefix,
      minted.hash,
      key.name,
      key.scopes,
      key.expiresAt ?? null,
      key.rotatedFrom ?? null,
      key.awaitingVerification ?? false,
    ],
  );
  return { ...summary(rows[0]!), key: minted.key };
}

async function readKey(db: Db, id: string, lock = false): Promise<KeyRow> {
  const { rows } = await db.query<KeyRow>(
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1${lock ? " FOR UPDATE" : ""}`,
    [id],
  );
  if (!rows[0]) throw notFound(`API key ${id}`);
  return rows[0];
}

function notUsable(row: KeyRow, action: string): Problem | undefined {
  const state = summary(row).status;
  if (state !== "revoked" && state !== "expired") return undefined;
  return new Problem({
    type: "api-key-not-active",
    title: "API key is no longer active",
    status: 409,
    detail: `API key ${row.key_prefix}... is ${state}; it cannot be ${action}. Create a new key with POST /v1/api-keys.`,
    keyStatus: state,
  });
}

export const apiKeyRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const keys = { tag: "api-keys", auth: "api-key", scope: "admin" } as const;

  const createContract = documented({
    ...keys,
    summary: "Create an API key (its plaintext is in this answer only)",
    body: createApiKeyRequest,
    responses: { 201: { description: "The key, with the plaintext key", body: apiKeyCreatedResponse } },
    problems: [],
  });
  app.post("/v1/api-keys", createContract, async (request, reply) => {
    const body = request.body;
    const tenantId = request.principal!.tenantId;
    const created = await ctx.asTenant(request, (db) => insertApiKey(db, tenantId, body));
    return reply.code(201).header("cache-control", "no-store").send(created);
  });

  const listContract = documented({
    ...keys,
    summary: "List the tenant's API keys (never the keys themselves)",
    responses: { 200: { description: "Every key, oldest first", body: apiKeyListResponse } },
    problems: [],
  });
  app.get("/v1/api-keys", listContract, async (request) => {
    const rows = await ctx.asTenant(request, async (db) => {
      const result = await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`);
      return result.rows;
    });
    return { apiKeys: rows.map(summary) };
  });

  const rotateContract = documented({
    ...keys,
    summary: "Rotate an API key: a new key; the old one works for a grace period",
    params: apiKeyIdParams,
    // Every field has a default: an empty request rotates with a day's grace.
    body: rotateApiKeyRequest.prefault({}),
    bodyOptional: true,
    responses: {
      201: { description: "The new key (with its plaintext) and the old one", body: apiKeyRotatedResponse },
    },
    problems: ["not-found", "api-key-not-active"],
  });
  app.post("/v1/api-keys/:id/rotate", rotateContract, async (request, reply) => {
    const { id } = request.params;
    const body = request.body;
    const tenantId = request.principal!.tenantId;
    const rotated = await ctx.asTenant(request, async (db) => {
      const old = await readKey(db, id, true);
      const refused = notUsable(old, "rotated");
      if (refused) throw refused;
      // The old key's end: now + grace, never later than an expiry it already had.
      const { rows } = await db.query<KeyRow>(
        `UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2))
          WHERE id = $1 RETURNING ${KEY_COLUMNS}`,
        [id, body.gracePeriodSeconds],
      );
      const created = await insertApiKey(db, tenantId, {
        name: old.label,
        scopes: old.scopes,
        expiresAt: body.expiresAt,
        rotatedFrom: id,
        awaitingVerification: old.awaiting_verification,
      });
      return { ...created, previous: summary(rows[0]!) };
    });
    return reply.code(201).header("cache-control", "no-store").send(rotated);
  });

  const revokeContract = documented({
    ...keys,
    summary: "Revoke an API key at once (revoking twice answers the first revocation)",
    params: apiKeyIdParams,
    responses: { 200: { description: "The revoked key", body: apiKeySummary } },
    problems: ["not-found"],
  });
  app.delete("/v1/api-keys/:id", revokeContract, async (request) => {
    const { id } = request.params;
    return ctx.asTenant(request, async (db) => {
      const old = await readKey(db, id, true);
      // Revoking twice answers the first revocation: the caller's intent holds either way.
      if (old.disabled_at) return summary(old);
      const { rows } = await db.query<KeyRow>(
        `UPDATE api_keys SET disabled_at = now() WHERE id = $1 RETURNING ${KEY_COLUMNS}`,
        [id],
      );
      return summary(rows[0]!);
    });
  });
};
