// Liveness, readiness and metrics. Readiness is what Route 53 health checks and the failover health
// gate read: the database answers and the schema is the one this build expects.
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../http/app.ts";
import { pendingMigrations } from "../db/migrate.ts";
import { refreshAggregateGauges } from "../observability/gauges.ts";

export const healthRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const checks: Record<string, string> = {};
    let ready = true;
    try {
      const pending = await pendingMigrations(ctx.pool);
      checks.database = "ok";
      if (pending.length) {
        ready = false;
        checks.migrations = `pending: ${pending.join(", ")} (run npm run migrate)`;
      } else {
        checks.migrations = "current";
      }
    } catch (error) {
      ready = false;
      checks.database = `unreachable: ${(error as Error).message}`;
    }
    return reply.code(ready ? 200 : 503).send({
      status: ready ? "ready" : "not ready",
      region: ctx.config.REGION_NAME,
      role: ctx.config.REGION_ROLE,
      checks,
    });
  });

  app.get("/metrics", async (_request, reply) => {
    await refreshAggregateGauges(ctx).catch(() => undefined);
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
};
