// Liveness, readiness and metrics. Readiness is what Route 53 health checks and the failover health
// gate read: the database answers and the schema is the one this build expects. A secret within 7 days
// of its rotation deadline (or past it) makes readiness "degraded": still 200, because a region that
// stops serving over a paperwork deadline is worse than one that pages ops (readiness_degraded).
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { documented } from "../http/contract.ts";
import { REGION_ROLES } from "../region.ts";
import type { AppContext } from "../http/app.ts";
import { migrationStatus } from "../db/migrate.ts";
import { refreshAggregateGauges } from "../observability/gauges.ts";

const readiness = z.strictObject({
  status: z.enum(["ready", "degraded", "not ready"]),
  region: z.string(),
  role: z.enum(REGION_ROLES),
  checks: z
    .record(z.string(), z.string())
    .describe(
      "database and migrations, each 'ok'/'current' or why not; secrets: their rotation deadlines (degraded within 7 days)",
    ),
});

export const healthRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const liveness = documented({
    summary: "Liveness: the process answers",
    tag: "operations",
    auth: "none",
    responses: { 200: { description: "Alive", body: z.strictObject({ status: z.literal("ok") }) } },
    problems: [],
  });
  app.get("/healthz", liveness, async () => ({ status: "ok" }));

  const readinessContract = documented({
    summary: "Readiness: the database answers and its schema is this build's",
    description: "What Route 53 health checks and the failover health gate read.",
    tag: "operations",
    auth: "none",
    responses: {
      200: {
        description: "Ready to serve (status degraded: serving, but a secret is due for rotation)",
        body: readiness,
      },
      503: { description: "Not ready; checks say why", body: readiness },
    },
    problems: [],
  });
  app.get("/readyz", readinessContract, async (_request, reply) => {
    const checks: Record<string, string> = {};
    let ready = true;
    try {
      const schema = await migrationStatus(ctx.pool);
      checks.database = "ok";
      if (schema.missing.length) {
        ready = false;
        checks.migrations = `missing: ${schema.missing.join(", ")} (this version needs them: run npm run migrate)`;
      } else {
        // Ready either way: a contract step still to run, or a newer version's expand step already
        // applied, is what a rolling deploy looks like (app/db/migrate.ts, migrationStatus).
        const notes = [
          ...(schema.pending.length
            ? [`pending, not needed by this version: ${schema.pending.join(", ")}`]
            : []),
          ...(schema.ahead.length ? [`ahead, applied by a newer version: ${schema.ahead.join(", ")}`] : []),
        ];
        checks.migrations = notes.length ? notes.join("; ") : "current";
      }
    } catch (error) {
      ready = false;
      checks.database = `unreachable: ${(error as Error).message}`;
    }
    const rotation = ctx.secretRotation?.readiness();
    if (rotation) checks.secrets = rotation.detail;
    return reply.code(ready ? 200 : 503).send({
      status: !ready ? "not ready" : rotation?.degraded ? "degraded" : "ready",
      region: ctx.config.REGION_NAME,
      role: ctx.config.REGION_ROLE,
      checks,
    });
  });

  const metricsContract = documented({
    summary: "Prometheus metrics",
    tag: "operations",
    auth: "none",
    responses: {
      200: { description: "Prometheus text exposition format", contentType: "text/plain", body: z.string() },
    },
    problems: [],
  });
  app.get("/metrics", metricsContract, async (request, reply) => {
    await refreshAggregateGauges(ctx).catch((error: Error) =>
      // Counted in aggregate_gauges_refresh_failures_total; the scrape still answers.
      request.log.warn({ err: error }, "aggregate gauges not refreshed: they keep their last values"),
    );
    // A deadline arrives with time, not with a refresh: re-judge at every scrape.
    ctx.secretRotation?.readiness();
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
};
