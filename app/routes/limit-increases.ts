// Limit increases as the tenant sees them: ask for more of a meter (ops is told at once), and follow
// where each request stands. Ops decides with `npm run limits` (app/ops/limits.ts); the tenant gets an
// email either way and the decision shows here.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { notFound, parseOrProblem } from "../http/problem.ts";
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

export const limitIncreaseRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.post("/v1/limit-increase-requests", async (request, reply) => {
    const body = parseOrProblem(limitIncreaseRequestBody, request.body);
    return ctx.idempotent(request, reply, async (db) => ({
      statusCode: 201,
      body: requestView(await createRequest(db, body)),
    }));
  });

  app.get("/v1/limit-increase-requests", async (request) => {
    const query = parseOrProblem(limitIncreaseRequestListQuery, request.query);
    const rows = await ctx.asTenant(request, (db) => listRequests(db, query));
    return { requests: rows.map(requestView) };
  });

  app.get("/v1/limit-increase-requests/:id", async (request) => {
    const { id } = parseOrProblem(limitIncreaseRequestParams, request.params);
    const row = await ctx.asTenant(request, (db) => getRequest(db, id));
    if (!row) throw notFound(`Limit-increase request ${id}`);
    return requestView(row);
  });
};
