// The carrier directory: search the shared directory, invite carriers (metered), record onboarding.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { refuseActionBody } from "../http/boundary.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem } from "../http/problem.ts";
import { EQUIPMENT } from "../pricing/data.ts";

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
    responses: { 200: { description: "A page of carriers, ordered by name", body: carrierList } },
    problems: [],
  });
  app.get(
    "/v1/directory/carriers",
    { ...searchContract, preHandler: ctx.feature("directorySearch") },
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
        return result.rows;
      });
      return {
        carriers: rows.map((row) => ({
          id: row.id,
          name: row.name,
          mcNumber: row.mc_number,
          dotNumber: row.dot_number,
          homeState: row.home_state,
          equipment: row.equipment,
          fleetSize: row.fleet_size,
          safetyRating: row.safety_rating,
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
        const { rows } = await db.query<{ id: string; status: string; accepted_at: Date | null }>(
          "SELECT id, status, accepted_at FROM carrier_invites WHERE id = $1",
          [id],
        );
        const row = rows[0];
        if (!row) throw notFound(`Invite ${id}`);
        if (first.rowCount) ctx.metrics.carrierInviteEvents.inc({ event: "accepted" });
        return {
          statusCode: 200,
          body: { id: row.id, status: row.status, acceptedAt: row.accepted_at?.toISOString() },
        };
      });
    },
  );
};
