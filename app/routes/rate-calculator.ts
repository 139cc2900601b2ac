// The public rate calculator: an anonymous price for one lane, from the same engine and checks as
// POST /v1/quotes, so a prospect sees the rate a tenant would be quoted. Nothing is stored and no
// tenant's meter counts it; it is limited per client address instead (the address the load balancer
// delivers, see TRUSTED_PROXY_HOPS), and its answer links to signup. The schemas are exported for
// the API contract.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { EQUIPMENT } from "../pricing/data.ts";
import { marketKey } from "../pricing/markets.ts";
import { checkQuoteRequest, quoteRequest } from "../pricing/quote-request.ts";
import { breakdownOf, quoteView } from "./quotes.ts";

export const RATE_CALCULATOR_PATH = "/v1/rate-calculator";
/** One lane is a few hundred bytes; anything much larger is not a calculator request. */
export const RATE_CALCULATOR_BODY_LIMIT_BYTES = 4 * 1024;

/** The body: the lane exactly as POST /v1/quotes takes it. */
export const rateCalculatorRequest = quoteRequest;

export const rateCalculatorResponse = z.strictObject({
  estimate: z.literal(true),
  origin: z.string(),
  destination: z.string(),
  equipment: z.enum(EQUIPMENT),
  weightLbs: z.number().int(),
  pickupDate: z.string(),
  distanceMiles: z.number().int(),
  currency: z.literal("USD"),
  // The quote's own breakdown: the champion version priced it (always spot: no tenant, no contract rates).
  breakdown: quoteView.shape.breakdown,
  totalCents: z.number().int(),
  pricingVersion: z.string(),
  signup: z.strictObject({ url: z.url(), method: z.literal("POST"), detail: z.string() }),
});
export type RateCalculatorResponse = z.infer<typeof rateCalculatorResponse>;

export const rateCalculatorRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const signupUrl = `${ctx.config.publicBaseUrl}/v1/signup`;
  // Before the body is read: a client over its limit costs no parsing or pricing.
  app.addHook("onRequest", async (request, reply) =>
    ctx.limitRequestRate(reply, "address", `address:${request.ip}`, {
      who: `Your address (${request.ip})`,
      fix: `the calculator is limited per client address; sign up (POST ${signupUrl}) for an API key with your plan's limits.`,
    }),
  );

  const calculatorContract = documented({
    summary: "Estimate the price of one lane without an account (nothing stored, limited per address)",
    tag: "rate-calculator",
    auth: "none",
    addressRateLimited: true,
    body: rateCalculatorRequest,
    responses: { 200: { description: "The estimate, and where to sign up", body: rateCalculatorResponse } },
    problems: [],
  });
  const options = { ...calculatorContract, bodyLimit: RATE_CALCULATOR_BODY_LIMIT_BYTES };
  app.post(RATE_CALCULATOR_PATH, options, async (request, reply) => {
    const body = request.body;
    const lane = checkQuoteRequest(body, ctx.engine.data.maxWeightLbs);
    // Most tenants' price: the champion version of the model, guardrails applied.
    const quote = ctx.pricing.championPrice({
      ...lane,
      equipment: body.equipment,
      weightLbs: body.weightLbs,
      pickupDate: body.pickupDate,
    });
    const { priced } = quote;
    const answer: RateCalculatorResponse = {
      estimate: true,
      origin: marketKey(lane.origin),
      destination: marketKey(lane.destination),
      equipment: body.equipment,
      weightLbs: body.weightLbs,
      pickupDate: body.pickupDate,
      distanceMiles: priced.distanceMiles,
      currency: "USD",
      breakdown: breakdownOf(quote),
      totalCents: priced.totalCents,
      pricingVersion: priced.pricingVersion,
      signup: {
        url: signupUrl,
        method: "POST",
        detail: "Sign up for an API key to turn this estimate into a quote you can book.",
      },
    };
    return reply
      .header("link", `<${signupUrl}>; rel="signup"`)
      .header("cache-control", "no-store")
      .send(answer);
  });
};
