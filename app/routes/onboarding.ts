// The first-run checklist of the calling tenant (app/onboarding/checklist.ts).
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../http/app.ts";
import { notFound } from "../http/problem.ts";
import { onboardingView, readChecklist } from "../onboarding/checklist.ts";

export { onboardingView };

export const onboardingRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get("/v1/onboarding", async (request) => {
    const checklist = await ctx.asTenant(request, readChecklist);
    if (!checklist) throw notFound(`Tenant ${request.principal?.tenantSlug ?? ""}`);
    return checklist;
  });
};
