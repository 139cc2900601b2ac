// Spot quotes: price a lane, store the quote, book it once.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { createQuote, type CreatedQuoteRow, type QuoteWrite } from "../db/quote-writes.ts";
import type { Principal } from "../http/auth.ts";
import type { AppContext } from "../http/app.ts";
import { idempotencyKeyFrom, type StoredResponse } from "../http/idempotency.ts";
import { outcomeOf, type ConsumeRow } from "../metering/meter.ts";
import { notFound, Problem, validationProblem } from "../http/problem.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { EQUIPMENT, type Equipment } from "../pricing/data.ts";
import { marketKey, MARKETS } from "../pricing/markets.ts";
import { checkQuoteRequest, pricedQuoteFields, quoteRequest } from "../pricing/quote-request.ts";
import { contractRateFor } from "../pricing/contract-rates.ts";
import { countPricedQuote } from "../observability/pricing-metrics.ts";
import type { ModelPricedQuote } from "../pricing/quote-pricing.ts";
import { readCanaryRoute } from "../routing/read-canary.ts";

const uuid = z.uuid("must be a quote id (UUID)");

/** A quote as the API answers it (and as the OpenAPI document describes it). */
export const quoteView = z.strictObject({
  id: z.guid(),
  origin: z.string().describe("Market as 'City, ST'"),
  destination: z.string(),
  equipment: z.enum(EQUIPMENT),
  weightLbs: z.int(),
  pickupDate: z.iso.date(),
  distanceMiles: z.number(),
  currency: z.literal("USD"),
  breakdown: z.strictObject({
    source: z
      .enum(["spot", "contract"])
      .describe(
        "spot: priced from market data; contract: the tenant's contract rate (id and validity below)",
      ),
    contractRateId: z.guid().optional(),
    contractValidFrom: z.iso.date().optional(),
    contractValidTo: z.iso.date().optional(),
    linehaulCents: z.int(),
    fuelSurchargeCents: z.int(),
    marginCents: z.int(),
    ratePerMileCents: z.number(),
    equipmentFactor: z.number(),
    seasonalityIndex: z.number(),
    weightFactor: z.number(),
    pricingVersion: z.string().optional().describe("The version that priced it (as pricingVersion below)"),
    pricingModel: z
      .string()
      .optional()
      .describe("The pricing model whose version priced it; absent for a contract rate"),
    pricingBucket: z
      .int()
      .optional()
      .describe("The tenant's bucket (0 to 9,999) that chose the version; absent for a contract rate"),
    clampedByCap: z.boolean().optional().describe("The version's regional cap lowered the price"),
    raisedToFloor: z.boolean().optional().describe("The version's margin floor raised the margin"),
    capBreached: z
      .boolean()
      .optional()
      .describe("The margin floor kept the price above the regional cap (never below the floor)"),
  }),
  totalCents: z.int().describe("linehaul + fuel surcharge + margin, in US cents"),
  pricingVersion: z.string(),
  expiresAt: z.iso.datetime(),
  createdAt: z.iso.datetime(),
  bookedAt: z.iso.datetime().nullable(),
});
export type QuoteView = z.infer<typeof quoteView>;

const quoteParams = z.strictObject({ id: uuid });

const booking = z.strictObject({
  bookingId: z.guid(),
  quoteId: z.guid(),
  totalCents: z.int(),
  currency: z.literal("USD"),
  bookedAt: z.iso.datetime(),
});

const locations = z.strictObject({
  markets: z.array(z.strictObject({ name: z.string().describe("'City, ST'"), region: z.string() })),
});

interface QuoteRow {
  id: string;
  origin: string;
  destination: string;
  equipment: Equipment;
  weight_lbs: number;
  pickup_date: string;
  distance_miles: number;
  linehaul_cents: number;
  fuel_surcharge_cents: number;
  margin_cents: number;
  total_cents: number;
  breakdown: QuoteView["breakdown"];
  pricing_version: string;
  expires_at: Date;
  created_at: Date;
  booked_at: Date | null;
}

export function breakdownOf(quote: ModelPricedQuote): QuoteView["breakdown"] {
  const { priced } = quote;
  return {
    source: priced.source,
    ...(priced.contract
      ? {
          contractRateId: priced.contract.id,
          contractValidFrom: priced.contract.validFrom,
          contractValidTo: priced.contract.validTo,
        }
      : {}),
    linehaulCents: priced.linehaulCents,
    fuelSurchargeCents: priced.fuelSurchargeCents,
    marginCents: priced.marginCents,
    ratePerMileCents: priced.ratePerMileCents,
    equipmentFactor: priced.equipmentFactor,
    seasonalityIndex: priced.seasonalityIndex,
    weightFactor: priced.weightFactor,
    pricingVersion: priced.pricingVersion,
    ...(quote.model === undefined
      ? {}
      : {
          pricingModel: quote.model,
          pricingBucket: quote.bucket,
          clampedByCap: quote.clampedByCap,
          raisedToFloor: quote.raisedToFloor,
          capBreached: quote.capBreached,
        }),
  };
}

function toView(row: QuoteRow): QuoteView {
  return {
    id: row.id,
    origin: row.origin,
    destination: row.destination,
    equipment: row.equipment,
    weightLbs: row.weight_lbs,
    pickupDate: row.pickup_date,
    distanceMiles: row.distance_miles,
    currency: "USD",
    // Quotes stored before contract rates carry no source: they were all spot-priced.
    breakdown: { ...row.breakdown, source: row.breakdown.source ?? "spot" },
    totalCents: row.total_cents,
    pricingVersion: row.pricing_version,
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    bookedAt: row.booked_at ? row.booked_at.toISOString() : null,
  };
}

const QUOTE_COLUMNS = `q.id, q.origin, q.destination, q.equipment, q.weight_lbs, q.pickup_date, q.distance_miles,
  q.linehaul_cents, q.fuel_surcharge_cents, q.margin_cents, q.total_cents, q.breakdown, q.pricing_version, q.expires_at, q.created_at`;

export const quoteRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const { engine, metrics, pricing } = ctx;
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  app.addHook("preHandler", ctx.feature("spotQuotes"));

  const locationsContract = documented({
    summary: "List the markets quotes can be priced between",
    tag: "quotes",
    auth: "api-key",
    responses: {
      200: { description: "Every market, as 'City, ST' with its pricing region", body: locations },
    },
    problems: [],
  });
  app.get("/v1/locations", locationsContract, async () => ({
    markets: MARKETS.map((market) => ({ name: marketKey(market), region: market.region })),
  }));

  const createContract = documented({
    summary: "Price a lane and store the quote",
    description:
      "Counts one unit of the quotes meter. Unknown markets, a lane to itself, an illegal weight or a pickup day in the past or over 180 days ahead are refused with the field named.",
    tag: "quotes",
    auth: "api-key",
    idempotent: true,
    metered: true,
    body: quoteRequest,
    responses: { 201: { description: "The priced quote, valid until expiresAt", body: quoteView } },
    problems: [],
  });
  app.post("/v1/quotes", createContract, async (request, reply) => {
    const body = request.body;
    const lane = checkQuoteRequest(body, engine.data.maxWeightLbs);
    const input = {
      ...lane,
      equipment: body.equipment,
      weightLbs: body.weightLbs,
      pickupDate: body.pickupDate,
    };
    const principal = request.principal as Principal;
    // A contract rate for the lane and pickup day wins over spot; only plans with contracts look,
    // and only for a pickup day some rate of the tenant covers.
    const contract =
      principal.features.has("contracts") &&
      principal.contractRatesUntil !== null &&
      body.pickupDate <= principal.contractRatesUntil
        ? await contractRateFor(
            ctx.pool,
            principal.tenantId,
            {
              origin: marketKey(lane.origin),
              destination: marketKey(lane.destination),
              equipment: body.equipment,
            },
            body.pickupDate,
          )
        : undefined;
    // The tenant's version of the model, guardrails applied (a contract rate is left as agreed).
    const quote = pricing.price(principal.tenantId, input, contract || undefined);
    const breakdown = breakdownOf(quote);
    const fields = pricedQuoteFields(body, lane, quote);
    const write: QuoteWrite = {
      ...fields,
      tenantId: principal.tenantId,
      breakdown: JSON.stringify(breakdown),
    };
    // create_quote stored the quote and counted the meter in one statement (see its migration).
    const answer = (row: CreatedQuoteRow): StoredResponse => {
      if (ctx.quoteWrites.metered) {
        if (!row.has_entitlement) throw ctx.noEntitlement("quotes");
        ctx.settleMeter(request, reply, outcomeOf("quotes", row as ConsumeRow));
      }
      metrics.quotesCreated.inc({ equipment: body.equipment });
      countPricedQuote(metrics, quote);
      const view: QuoteView = {
        id: row.quote_id as string,
        origin: fields.origin,
        destination: fields.destination,
        equipment: fields.equipment,
        weightLbs: fields.weightLbs,
        pickupDate: fields.pickupDate,
        distanceMiles: fields.distanceMiles,
        currency: "USD",
        breakdown,
        totalCents: fields.totalCents,
        pricingVersion: fields.pricingVersion,
        expiresAt: (row.expires_at as Date).toISOString(),
        createdAt: (row.created_at as Date).toISOString(),
        bookedAt: null,
      };
      return { statusCode: 201, body: view };
    };
    // Without an Idempotency-Key the statement commits on its own, grouped with the quotes sent at the
    // same moment when the database is busy (see quote-writes.ts).
    if (!idempotencyKeyFrom(request.headers)) {
      const response = answer(await ctx.quoteWriter.write(write));
      return reply.code(response.statusCode).send(response.body);
    }
    return ctx.idempotent(request, reply, async (db) =>
      answer(await createQuote(db, write, ctx.quoteWrites)),
    );
  });

  const readContract = documented({
    summary: "Read one of the tenant's quotes",
    tag: "quotes",
    auth: "api-key",
    params: quoteParams,
    responses: { 200: { description: "The quote, with bookedAt once booked", body: quoteView } },
    problems: ["not-found"],
  });
  app.get("/v1/quotes/:id", readCanaryRoute(readContract), async (request) => {
    const { id } = request.params;
    const row = await ctx.asTenant(request, async (db) => {
      const { rows } = await db.query<QuoteRow>(
        `SELECT ${QUOTE_COLUMNS}, b.created_at AS booked_at FROM quotes q LEFT JOIN bookings b ON b.quote_id = q.id WHERE q.id = $1`,
        [id],
      );
      return rows[0];
    });
    if (!row) throw notFound(`Quote ${id}`);
    return toView(row);
  });

  const bookContract = documented({
    summary: "Book a quote (once)",
    description: "Takes no body (or {}). A quote books once, and not after it expires.",
    tag: "quotes",
    auth: "api-key",
    idempotent: true,
    params: quoteParams,
    responses: { 201: { description: "The booking", body: booking } },
    problems: ["not-found", "quote-already-booked", "quote-expired"],
  });
  app.post("/v1/quotes/:id/book", bookContract, async (request, reply) => {
    const { id } = request.params;
    if (
      request.body !== undefined &&
      request.body !== null &&
      Object.keys(request.body as object).length > 0
    ) {
      throw validationProblem([{ field: "(body)", message: "booking takes no body; send none or {}" }]);
    }
    return ctx.idempotent(request, reply, async (db) => {
      // Lock the quote first, then look for its booking in a fresh statement: a booking committed by a
      // concurrent request while we waited for the lock is visible only to a statement started after it.
      const { rows } = await db.query<{ id: string; expired: boolean; total_cents: number }>(
        "SELECT id, expires_at < now() AS expired, total_cents FROM quotes WHERE id = $1 FOR UPDATE",
        [id],
      );
      const quote = rows[0];
      if (!quote) throw notFound(`Quote ${id}`);
      const existing = await db.query<{ id: string; created_at: Date }>(
        "SELECT id, created_at FROM bookings WHERE quote_id = $1",
        [id],
      );
      const booked = existing.rows[0];
      if (booked) {
        throw new Problem({
          type: "quote-already-booked",
          title: "Quote already booked",
          status: 409,
          detail: `Quote ${id} was booked at ${booked.created_at.toISOString()} as booking ${booked.id}; a quote books once.`,
          bookingId: booked.id,
        });
      }
      if (quote.expired) {
        throw new Problem({
          type: "quote-expired",
          title: "Quote expired",
          status: 409,
          detail: `Quote ${id} has expired. Request a new quote for this lane and book that one.`,
        });
      }
      const booking = await db.query<{ id: string; created_at: Date }>(
        `INSERT INTO bookings (tenant_id, quote_id, total_cents) VALUES (current_tenant_id(), $1, $2) RETURNING id, created_at`,
        [id, quote.total_cents],
      );
      metrics.quoteBookings.inc();
      const created = booking.rows[0] as { id: string; created_at: Date };
      return {
        statusCode: 201,
        body: {
          bookingId: created.id,
          quoteId: id,
          totalCents: quote.total_cents,
          currency: "USD",
          bookedAt: created.created_at.toISOString(),
        },
      };
    });
  });
};
