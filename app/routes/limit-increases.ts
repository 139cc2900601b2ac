// Limit increases as the tenant sees them: ask for more of a meter (ops is told at once), and follow
// where each request stands. Ops decides with `npm run limits` (app/ops/limits.ts); the tenant gets an
// email either way and the decision shows here.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound } from "../http/problem.ts";
import {
  createRequest,
  getRequest,
  LIMIT_REQUEST_STATUSES,
  limitIncreaseRequestBody,
  limitIncreaseRequestView,
  listRequests,
  requestView,
} from "../limits/requests.ts";

export { limitIncreaseRequestBody, limitIncreaseRequestView };

export const limitIncreaseRequestParams = z.strictObject({
  id: z.uuid("must be a limit-increase request id (UUID)"),
});

export const limitIncreaseRequestListQuery = z.strictObject({
  status: z.enum(LIMIT_REQUEST_STATUSES, `must be one of ${LIMIT_REQUEST_STATUSES.join(", ")}`).optional(),
  limit: z.coerce
    .number("must be a number")
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(100, "must be at most 100")
    .default(50),
});

export const limitIncreaseRequestList = z.object({ requests: z.array(limitIncreaseRequestView) });

export const limitIncreaseRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const createContract = documented({
    summary: "Ask for a higher limit on a meter (ops is told at once)",
    tag: "limits",
    auth: "api-key",
    idempotent: true,
    body: limitIncreaseRequestBody,
    responses: { 201: { description: "The request, open", body: limitIncreaseRequestView } },
    problems: [],
  });
  app.post("/v1/limit-increase-requests", createContract, async (request, reply) => {
    const body = request.body;
    return ctx.idempotent(request, reply, async (db) => ({
      statusCode: 201,
      body: requestView(await createRequest(db, body)),
    }));
  });

  const listContract = documented({
    summary: "The tenant's limit-increase requests, newest first",
    tag: "limits",
    auth: "api-key",
    querystring: limitIncreaseRequestListQuery,
    responses: { 200: { description: "The requests", body: limitIncreaseRequestList } },
    problems: [],
  });
  app.get("/v1/limit-increase-requests", listContract, async (request) => {
    const rows = await ctx.asTenant(request, (db) => listRequests(db, request.query));
    return { requests: rows.map(requestView) };
  });

  const readContract = documented({
    summary: "One limit-increase request and its decision",
    tag: "limits",
    auth: "api-key",
    params: limitIncreaseRequestParams,
    responses: { 200: { description: "The request", body: limitIncreaseRequestView } },
    problems: ["not-found"],
  });
  app.get("/v1/limit-increase-requests/:id", readContract, async (request) => {
    const { id } = request.params;
    const row = await ctx.asTenant(request, (db) => getRequest(db, id));
    if (!row) throw notFound(`Limit-increase request ${id}`);
    return requestView(row);
  });
};
