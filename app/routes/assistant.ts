// The assistant: a shipper's email drafted into a quote request, a quote explained in plain words.
// Both are agent tasks the runners work with the LLM provider (app/runner/assistant-tasks.ts), so the
// API answers 202 with the task at once and the client reads it back; a degraded provider never slows
// these routes (or quotes and bookings), it only changes who wrote the result (`result.source`).
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound } from "../http/problem.ts";
import { getAssistantTask, queueAssistantTask, type AssistantTaskRow } from "../assistant/tasks.ts";
import type { QuoteFigures } from "../assistant/quote-explanation.ts";

export const shipperEmailBody = z.strictObject({
  from: z.string().max(320, "must be at most 320 characters").optional(),
  subject: z.string().max(1000, "must be at most 1,000 characters").default(""),
  body: z
    .string("must be the email's text")
    .min(1, "must hold the email's text")
    .max(20_000, "must be at most 20,000 characters"),
});

export const assistantTaskView = z.strictObject({
  id: z.guid(),
  kind: z.enum(["quote_request_extraction", "quote_explanation"]),
  status: z
    .enum(["queued", "running", "retrying", "success", "failed"])
    .describe(
      "retrying: waiting for another attempt (e.g. while the LLM provider is degraded); nothing is lost",
    ),
  result: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      "On success: the draft or explanation, with `source` saying whether the model or a fallback wrote it",
    ),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

const taskParams = z.strictObject({ id: z.uuid("must be an assistant task id (UUID)") });
const quoteParams = z.strictObject({ id: z.uuid("must be a quote id (UUID)") });

function view(row: AssistantTaskRow): z.infer<typeof assistantTaskView> {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    result: row.result,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at ? row.finished_at.toISOString() : null,
  };
}

export const assistantRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();

  const draftContract = documented({
    summary: "Draft a quote request from a shipper's email (worked in the background)",
    tag: "assistant",
    auth: "api-key",
    body: shipperEmailBody,
    responses: {
      202: { description: "The task, queued; read it back for the draft", body: assistantTaskView },
    },
    problems: [],
  });
  app.post("/v1/assistant/quote-requests", draftContract, async (request, reply) => {
    const row = await ctx.asTenant(request, (db) =>
      queueAssistantTask(db, { kind: "quote_request_extraction", payload: request.body }),
    );
    return reply.code(202).send(view(row));
  });

  const explainContract = documented({
    summary: "Explain a quote in plain words (worked in the background)",
    tag: "assistant",
    auth: "api-key",
    params: quoteParams,
    responses: {
      202: { description: "The task, queued; read it back for the explanation", body: assistantTaskView },
    },
    problems: ["not-found"],
  });
  app.post("/v1/quotes/:id/explanation", explainContract, async (request, reply) => {
    const { id } = request.params;
    const row = await ctx.asTenant(request, async (db) => {
      const { rows } = await db.query<{
        origin: string;
        destination: string;
        equipment: QuoteFigures["equipment"];
        weight_lbs: number;
        distance_miles: number;
        total_cents: number;
        breakdown: QuoteFigures["breakdown"];
      }>(
        `SELECT origin, destination, equipment, weight_lbs, distance_miles, total_cents, breakdown
           FROM quotes WHERE id = $1`,
        [id],
      );
      const quote = rows[0];
      if (!quote) return undefined;
      const figures: QuoteFigures = {
        quoteId: id,
        origin: quote.origin,
        destination: quote.destination,
        equipment: quote.equipment,
        weightLbs: quote.weight_lbs,
        distanceMiles: Number(quote.distance_miles),
        totalCents: quote.total_cents,
        breakdown: quote.breakdown,
      };
      return queueAssistantTask(db, { kind: "quote_explanation", payload: figures });
    });
    if (!row) throw notFound(`Quote ${id}`);
    return reply.code(202).send(view(row));
  });

  const readContract = documented({
    summary: "An assistant task and, once done, its result",
    tag: "assistant",
    auth: "api-key",
    params: taskParams,
    responses: { 200: { description: "The task", body: assistantTaskView } },
    problems: ["not-found"],
  });
  app.get("/v1/assistant/tasks/:id", readContract, async (request) => {
    const { id } = request.params;
    const row = await ctx.asTenant(request, (db) => getAssistantTask(db, id));
    if (!row) throw notFound(`Assistant task ${id}`);
    return view(row);
  });
};
