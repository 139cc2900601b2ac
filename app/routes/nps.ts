// NPS surveys over the tenant API: the invitation email (queued by the NPS job, app/growth/nps.ts)
// names the survey; the tenant lists its surveys and answers each once with a score and a comment.
// Row security scopes every survey to the caller's tenant, so another tenant's survey is not found.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { answerNpsSurvey, listNpsSurveys, npsAnswerBody, npsSurveyView } from "../growth/nps.ts";

const surveyParams = z.strictObject({ id: z.uuid("must be an NPS survey id (UUID) from the invitation") });
const surveyList = z.strictObject({ surveys: z.array(npsSurveyView) });

export const npsRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const listContract = documented({
    summary: "The tenant's NPS surveys, newest first",
    description: "One per milestone (trial day 21, paid day 90), open until it is answered or expires.",
    tag: "nps",
    auth: "api-key",
    responses: { 200: { description: "The surveys and their answers", body: surveyList } },
    problems: [],
  });
  app.get("/v1/nps/surveys", listContract, async (request) => ({
    surveys: await ctx.asTenant(request, (db) => listNpsSurveys(db)),
  }));

  const answerContract = documented({
    summary: "Answer an NPS survey: a score from 0 to 10 and an optional comment",
    description:
      "Each survey takes one answer while open (30 days from its invitation). A score of 0-6 opens a save playbook with the account owner.",
    tag: "nps",
    auth: "api-key",
    params: surveyParams,
    body: npsAnswerBody,
    responses: { 200: { description: "The survey with its answer", body: npsSurveyView } },
    problems: ["not-found", "nps-survey-already-answered", "nps-survey-expired"],
  });
  app.post("/v1/nps/surveys/:id/response", answerContract, async (request) =>
    ctx.asTenant(request, (db) => answerNpsSurvey(db, request.params.id, request.body)),
  );
};
