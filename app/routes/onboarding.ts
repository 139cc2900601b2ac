// The first-run checklist of the calling tenant (app/onboarding/checklist.ts).
import type { FastifyPluginAsync } from "fastify";
import type { AppContext } from "../http/app.ts";
import { documented } from "../http/contract.ts";
import { notFound } from "../http/problem.ts";
import { onboardingView, readChecklist } from "../onboarding/checklist.ts";

export { onboardingView };

export const onboardingRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (app, { ctx }) => {
  const checklistContract = documented({
    summary: "The tenant's first-run checklist",
    tag: "onboarding",
    auth: "api-key",
    responses: { 200: { description: "Each step and whether it is done", body: onboardingView } },
    problems: ["not-found"],
  });
  app.get("/v1/onboarding", checklistContract, async (request) => {
    const checklist = await ctx.asTenant(request, readChecklist);
    if (!checklist) throw notFound(`Tenant ${request.principal?.tenantSlug ?? ""}`);
    return checklist;
  });
};
