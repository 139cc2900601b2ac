// The carrier directory: search the shared directory, invite carriers (metered), record onboarding,
// and the carriers' compliance documents with the freshness score every tenant sees in search and on
// a carrier's scorecard (app/growth/carrier-compliance.ts has the formula). An accepted invite counts
// as onboarded once the carrier's documents are on file and not lapsed.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { refuseActionBody } from "../http/boundary.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem } from "../http/problem.ts";
import { EQUIPMENT } from "../pricing/data.ts";
import {
  complianceDocumentBody,
  complianceDocumentView,
  complianceSummary,
  currentDocuments,
  DOCUMENT_KINDS,
  freshnessOf,
  FRESHNESS_FORMULA,
  markOnboarded,
  recordComplianceDocument,
} from "../growth/carrier-compliance.ts";
import { readCanaryRoute } from "../routing/read-canary.ts";

const search = z.strictObject({
  q: z.string().trim().max(100, "must be at most 100 characters").optional(),
  state: z
    .string()
    .regex(/^[A-Za-z]{2}$/, "must be a two-letter state code, e.g. TX")
    .transform((s) => s.toUpperCase())
    .optional(),
  equipment: z.enum(EQUIPMENT, `must be one of ${EQUIPMENT.join(", ")}`).optional(),
  limit: z.coerce
    .number("must be a number")
    .int()
    .min(1, "must be at least 1")
    .max(100, "must be at most 100")
    .default(20),
  offset: z.coerce.number("must be a number").int().min(0, "must be 0 or more").max(10_000).default(0),
});

const invite = z.strictObject({
  carrierId: z.uuid("must be a carrier id (UUID) from the directory search"),
  email: z.email("must be an email address").max(254),
});

const inviteParams = z.strictObject({ id: z.uuid("must be an invite id (UUID)") });

const carrierList = z.strictObject({
  carriers: z.array(
    z.strictObject({
      id: z.guid(),
      name: z.string(),
      mcNumber: z.string(),
      dotNumber: z.string(),
      homeState: z.string(),
      equipment: z.array(z.string()),
      fleetSize: z.int(),
      safetyRating: z.string(),
      compliance: complianceSummary,
    }),
  ),
  limit: z.int(),
  offset: z.int(),
});

const sentInvite = z.strictObject({
  id: z.guid(),
  carrierId: z.guid(),
  email: z.string(),
  status: z.literal("sent"),
  createdAt: z.iso.datetime(),
});

const acceptedInvite = z.strictObject({
  id: z.guid(),
  status: z.string(),
  acceptedAt: z.iso.datetime().optional(),
  /** Set once the carrier's compliance documents are on file and current. */
  onboardedAt: z.iso.datetime().optional(),
});

const carrierParams = z.strictObject({ id: z.uuid("must be a carrier id (UUID) from the directory search") });

const scorecard = z.strictObject({
  carrier: z.strictObject({
    id: z.guid(),
    name: z.string(),
    mcNumber: z.string(),
    dotNumber: z.string(),
    safetyRating: z.string(),
  }),
  compliance: complianceSummary.extend({
    formula: z.string(),
    documents: z.array(complianceDocumentView),
    missing: z.array(z.enum(DOCUMENT_KINDS)),
  }),
  invite: z
    .strictObject({
      id: z.guid(),
      status: z.string(),
      invitedAt: z.iso.datetime(),
      acceptedAt: z.iso.datetime().nullable(),
      onboardedAt: z.iso.datetime().nullable(),
    })
    .nullable(),
});

interface CarrierRow {
  id: string;
  name: string;
  mc_number: string;
  dot_number: string;
  home_state: string;
  equipment: string[];
  fleet_size: number;
  safety_rating: string;
}

export const directoryRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const searchContract = documented({
    summary: "Search the shared carrier directory",
    description: "By name prefix, MC or DOT number (q), home state and equipment; paged by limit and offset.",
    tag: "directory",
    auth: "api-key",
    querystring: search,
    responses: {
      200: {
        description: "A page of carriers, ordered by name, each with its compliance freshness (0-100)",
        body: carrierList,
      },
    },
    problems: [],
  });
  app.get(
    "/v1/directory/carriers",
    readCanaryRoute({ ...searchContract, preHandler: ctx.feature("directorySearch") }),
    async (request) => {
      const query = request.query;
      const rows = await ctx.asTenant(request, async (db) => {
        const result = await db.query<CarrierRow>(
          `SELECT id, name, mc_number, dot_number, home_state, equipment, fleet_size, safety_rating
           FROM carriers
          WHERE ($1::text IS NULL OR lower(name) LIKE lower($1) || '%' OR mc_number = $1 OR dot_number = $1)
            AND ($2::text IS NULL OR home_state = $2)
            AND ($3::text IS NULL OR $3 = ANY (equipment))
          ORDER BY name, id
          LIMIT $4 OFFSET $5`,
          [
            query.q ? query.q.replace(/[%_\\]/g, "\\$&") : null,
            query.state ?? null,
            query.equipment ?? null,
            query.limit,
            query.offset,
          ],
        );
        return {
          carriers: result.rows,
          freshness: await freshnessOf(
            db,
            result.rows.map((r) => r.id),
          ),
        };
      });
      return {
        carriers: rows.carriers.map((row) => ({
          id: row.id,
          name: row.name,
          mcNumber: row.mc_number,
          dotNumber: row.dot_number,
          homeState: row.home_state,
          equipment: row.equipment,
          fleetSize: row.fleet_size,
          safetyRating: row.safety_rating,
          compliance: {
            freshness: rows.freshness.get(row.id)?.freshness ?? 0,
            status: rows.freshness.get(row.id)?.compliance ?? "non_compliant",
          },
        })),
        limit: query.limit,
        offset: query.offset,
      };
    },
  );

  const inviteContract = documented({
    summary: "Invite a carrier from the directory",
    description: "Counts one unit of the directory_invites meter; a carrier is invited once per tenant.",
    tag: "directory",
    auth: "api-key",
    idempotent: true,
    metered: true,
    body: invite,
    responses: { 201: { description: "The invite, sent", body: sentInvite } },
    // An invite to a person erased on request is refused by the tombstone trigger (nothing counted).
    problems: ["not-found", "carrier-already-invited", "subject-erased-not-reimported"],
  });
  app.post(
    "/v1/directory/invites",
    { ...inviteContract, preHandler: ctx.feature("invites") },
    async (request, reply) => {
      const body = request.body;
      return ctx.idempotent(request, reply, async (db) => {
        const carrier = await db.query("SELECT 1 FROM carriers WHERE id = $1", [body.carrierId]);
        if (!carrier.rowCount) throw notFound(`Carrier ${body.carrierId}`);
        const existing = await db.query<{ id: string }>(
          "SELECT id FROM carrier_invites WHERE carrier_id = $1",
          [body.carrierId],
        );
        if (existing.rowCount) {
          // Checked before metering: a duplicate invite is refused and never counted.
          throw new Problem({
            type: "carrier-already-invited",
            title: "Carrier already invited",
            status: 409,
            detail: `This carrier was already invited (invite ${existing.rows[0]?.id}); an invite per carrier is enough.`,
            inviteId: existing.rows[0]?.id,
          });
        }
        await ctx.meter(db, request, reply, "directory_invites");
        const { rows } = await db.query<{ id: string; tenant_id: string; created_at: Date }>(
          `INSERT INTO carrier_invites (tenant_id, carrier_id, email) VALUES (current_tenant_id(), $1, $2)
         ON CONFLICT (tenant_id, carrier_id) DO NOTHING RETURNING id, tenant_id, created_at`,
          [body.carrierId, body.email],
        );
        const row = rows[0];
        if (!row) {
          // A concurrent request invited this carrier first; throwing rolls back our meter count too.
          throw new Problem({
            type: "carrier-already-invited",
            title: "Carrier already invited",
            status: 409,
            detail: "This carrier was just invited by another request; an invite per carrier is enough.",
          });
        }
        // The invite email and the carrier's onboarding are a workflow in workflow automation (n8n):
        // queued in this transaction, so an invite exists exactly when its event will be delivered.
        await db.query(
          `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
           VALUES ($1, 'workflow_event', $2, $3) ON CONFLICT (dedupe_key) DO NOTHING`,
          [
            row.tenant_id,
            JSON.stringify({
              event: "carrier_invited",
              inviteId: row.id,
              carrierId: body.carrierId,
              email: body.email,
            }),
            `workflow_event:carrier_invited:${row.id}`,
          ],
        );
        ctx.metrics.carrierInviteEvents.inc({ event: "sent" });
        return {
          statusCode: 201,
          body: {
            id: row.id,
            carrierId: body.carrierId,
            email: body.email,
            status: "sent",
            createdAt: row.created_at.toISOString(),
          },
        };
      });
    },
  );

  const acceptContract = documented({
    summary: "Record that a carrier accepted an invite",
    description: "Takes no body (or {}); accepting again answers the same state.",
    tag: "directory",
    auth: "api-key",
    idempotent: true,
    params: inviteParams,
    responses: { 200: { description: "The invite's state", body: acceptedInvite } },
    problems: ["not-found"],
  });
  app.post(
    "/v1/directory/invites/:id/accept",
    { ...acceptContract, preHandler: ctx.feature("invites") },
    async (request, reply) => {
      const { id } = request.params;
      refuseActionBody(request.body, "Accepting an invite");
      return ctx.idempotent(request, reply, async (db) => {
        // Only the first acceptance counts as an onboarding; later ones return the same state.
        const first = await db.query(
          "UPDATE carrier_invites SET status = 'accepted', accepted_at = now() WHERE id = $1 AND status = 'sent'",
          [id],
        );
        const { rows: found } = await db.query<{ carrier_id: string }>(
          "SELECT carrier_id FROM carrier_invites WHERE id = $1",
          [id],
        );
        if (!found[0]) throw notFound(`Invite ${id}`);
        // A carrier whose documents are already on file is onboarded as it accepts.
        await markOnboarded(db, found[0].carrier_id);
        const { rows } = await db.query<{
          id: string;
          status: string;
          accepted_at: Date | null;
          onboarded_at: Date | null;
        }>("SELECT id, status, accepted_at, onboarded_at FROM carrier_invites WHERE id = $1", [id]);
        const row = rows[0]!;
        if (first.rowCount) ctx.metrics.carrierInviteEvents.inc({ event: "accepted" });
        return {
          statusCode: 200,
          body: {
            id: row.id,
            status: row.status,
            acceptedAt: row.accepted_at?.toISOString(),
            onboardedAt: row.onboarded_at?.toISOString(),
          },
        };
      });
    },
  );

  const documentContract = documented({
    summary: "Record a compliance document of a carrier you invited",
    description:
      "Insurance certificate, operating authority or W-9, with its issue and expiry dates and the carrier's compliance contact (who gets the reminders 30, 7 and 1 days before expiry). The latest issued document of a kind is the current one; every tenant sees the resulting freshness.",
    tag: "directory",
    auth: "api-key",
    params: carrierParams,
    body: complianceDocumentBody,
    responses: { 201: { description: "The document, recorded", body: complianceDocumentView } },
    problems: ["not-found", "carrier-not-invited"],
  });
  app.post(
    "/v1/directory/carriers/:id/compliance-documents",
    { ...documentContract, preHandler: ctx.feature("invites") },
    async (request, reply) => {
      const document = await ctx.asTenant(request, (db) =>
        recordComplianceDocument(db, request.params.id, request.body),
      );
      return reply.code(201).send(document);
    },
  );

  const scorecardContract = documented({
    summary: "A carrier's scorecard: compliance documents, freshness and your invite",
    description: `Freshness (0-100): ${FRESHNESS_FORMULA}.`,
    tag: "directory",
    auth: "api-key",
    params: carrierParams,
    responses: { 200: { description: "The scorecard", body: scorecard } },
    problems: ["not-found"],
  });
  app.get(
    "/v1/directory/carriers/:id/scorecard",
    { ...scorecardContract, preHandler: ctx.feature("directorySearch") },
    async (request) => {
      const { id } = request.params;
      return ctx.asTenant(request, async (db) => {
        const { rows } = await db.query<CarrierRow>(
          "SELECT id, name, mc_number, dot_number, safety_rating FROM carriers WHERE id = $1",
          [id],
        );
        const carrier = rows[0];
        if (!carrier) throw notFound(`Carrier ${id}`);
        const freshness = (await freshnessOf(db, [id])).get(id)!;
        const documents = await currentDocuments(db, id);
        const { rows: invites } = await db.query<{
          id: string;
          status: string;
          created_at: Date;
          accepted_at: Date | null;
          onboarded_at: Date | null;
        }>(
          "SELECT id, status, created_at, accepted_at, onboarded_at FROM carrier_invites WHERE carrier_id = $1",
          [id],
        );
        const invite = invites[0];
        return {
          carrier: {
            id: carrier.id,
            name: carrier.name,
            mcNumber: carrier.mc_number,
            dotNumber: carrier.dot_number,
            safetyRating: carrier.safety_rating,
          },
          compliance: {
            freshness: freshness.freshness,
            status: freshness.compliance,
            formula: FRESHNESS_FORMULA,
            documents,
            missing: DOCUMENT_KINDS.filter((k) => !documents.some((d) => d.kind === k)),
          },
          invite: invite
            ? {
                id: invite.id,
                status: invite.status,
                invitedAt: invite.created_at.toISOString(),
                acceptedAt: invite.accepted_at?.toISOString() ?? null,
                onboardedAt: invite.onboarded_at?.toISOString() ?? null,
              }
            : null,
        };
      });
    },
  );
};
