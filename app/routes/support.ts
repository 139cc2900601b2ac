// Support tickets over HTTP: tenants open and follow their own tickets (/v1/support/tickets, SLA
// deadlines from app/support/tickets.ts), and Alertmanager's receivers post every notification of
// an alert group to /webhooks/alertmanager, which opens, updates or resolves that group's platform
// ticket. The webhook sits outside /v1 (no tenant, no API key): it checks the bearer token the
// stacks give both Alertmanager and the API (ALERT_RECEIVER_TOKEN).
import { timingSafeEqual } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem } from "../http/problem.ts";
import {
  alertmanagerNotification,
  applyAlertNotification,
  getTenantTicket,
  listTenantTickets,
  openTenantTicket,
  openTicketBody,
  ticketView,
  toTicketView,
} from "../support/tickets.ts";

export const ticketParams = z.strictObject({ id: z.uuid("must be a support ticket id (UUID)") });
export const ticketListQuery = z.strictObject({
  limit: z.coerce
    .number("must be a number")
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(100, "must be at most 100")
    .default(50),
});
const ticketList = z.object({ tickets: z.array(ticketView) });
const alertAnswer = z.object({
  outcome: z.enum(["opened", "updated", "resolved", "already-resolved"]),
  ticketId: z.uuid().nullable(),
});

/** Tenant-facing routes, registered inside the /v1 API-key gate. */
export const supportTicketRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const openContract = documented({
    summary: "Open a support ticket (P1 outage, P2 degraded, P3 question)",
    description:
      "The answer carries the response and resolution deadlines of the support SLA (docs/sla.md): P1 on the clock, P2 and P3 in business time.",
    tag: "support",
    auth: "api-key",
    idempotent: true,
    body: openTicketBody,
    responses: { 201: { description: "The ticket, open, with its deadlines", body: ticketView } },
    problems: [],
  });
  app.post("/v1/support/tickets", openContract, async (request, reply) => {
    const tenantId = request.principal!.tenantId;
    const body = request.body;
    return ctx.idempotent(request, reply, async (db) => ({
      statusCode: 201,
      body: toTicketView(await openTenantTicket(db, tenantId, body)),
    }));
  });

  const listContract = documented({
    summary: "The tenant's support tickets, newest first",
    tag: "support",
    auth: "api-key",
    querystring: ticketListQuery,
    responses: { 200: { description: "The tickets", body: ticketList } },
    problems: [],
  });
  app.get("/v1/support/tickets", listContract, async (request) => {
    const rows = await ctx.asTenant(request, (db) => listTenantTickets(db, request.query.limit));
    return { tickets: rows.map(toTicketView) };
  });

  const readContract = documented({
    summary: "One support ticket and where its SLA clocks stand",
    tag: "support",
    auth: "api-key",
    params: ticketParams,
    responses: { 200: { description: "The ticket", body: ticketView } },
    problems: ["not-found"],
  });
  app.get("/v1/support/tickets/:id", readContract, async (request) => {
    const { id } = request.params;
    const row = await ctx.asTenant(request, (db) => getTenantTicket(db, id));
    if (!row) throw notFound(`Support ticket ${id}`);
    return toTicketView(row);
  });
};

function sameToken(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Alertmanager's webhook receiver: one platform ticket per alert group. */
export const alertReceiverRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const contract = documented({
    summary: "Alertmanager webhook receiver: a support ticket per alert group",
    description:
      "Alertmanager's webhook payload (version 4) with `Authorization: Bearer <ALERT_RECEIVER_TOKEN>`. A firing group opens its ticket or updates the open one (deduplicated on groupKey); a resolved group resolves it.",
    tag: "support",
    auth: "none",
    body: alertmanagerNotification,
    responses: { 200: { description: "Applied to the group's ticket", body: alertAnswer } },
    problems: ["alert-receiver-not-configured", "alert-receiver-unauthorized"],
  });
  app.post("/webhooks/alertmanager", contract, async (request) => {
    const token = ctx.config.ALERT_RECEIVER_TOKEN;
    if (!token) {
      throw new Problem({
        type: "alert-receiver-not-configured",
        title: "Alert receiver not configured",
        status: 404,
        detail:
          "This deployment has no ALERT_RECEIVER_TOKEN, so it opens no tickets from alerts. Set ALERT_RECEIVER_TOKEN_FILE on the API and the same token in Alertmanager's http_config.",
      });
    }
    const header = request.headers.authorization ?? "";
    const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    if (!sameToken(presented, token)) {
      throw new Problem({
        type: "alert-receiver-unauthorized",
        title: "Alert receiver token refused",
        status: 401,
        detail:
          "Send `Authorization: Bearer <token>` with this deployment's ALERT_RECEIVER_TOKEN (Alertmanager: webhook_configs[].http_config.authorization.credentials).",
      });
    }
    const result = await applyAlertNotification(ctx.pool, request.body);
    ctx.metrics.alertTicketNotifications.inc({ outcome: result.outcome });
    request.log.info(
      { groupKey: request.body.groupKey, ...result },
      `alert group ${request.body.status}: ticket ${result.outcome}`,
    );
    return result;
  });
};
