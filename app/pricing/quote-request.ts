// The quote request: what a lane to price must look like, owned here for both ways one arrives,
// POST /v1/quotes (app/routes/quotes.ts) and a row of a bulk rating upload (app/jobs/lanes.ts), so
// a field, a limit or a message changes for both at once.
import { z } from "zod";
import { validationProblem, type FieldError } from "../http/problem.ts";
import { EQUIPMENT, type Equipment } from "./data.ts";
import type { ModelPricedQuote } from "./quote-pricing.ts";
import { findMarket, marketKey, type Market } from "./markets.ts";

const MAX_DAYS_AHEAD = 180;

const weightLbs = z
  .number("must be whole pounds, e.g. 38000")
  .int("must be whole pounds, e.g. 38000")
  .positive("must be more than 0");

/** A lane as JSON: the body of POST /v1/quotes. */
export const quoteRequest = z.strictObject({
  origin: z.string("must be a market as 'City, ST', e.g. 'Chicago, IL'").min(3).max(80),
  destination: z.string("must be a market as 'City, ST', e.g. 'Dallas, TX'").min(3).max(80),
  equipment: z.enum(EQUIPMENT, `must be one of ${EQUIPMENT.join(", ")}`),
  weightLbs,
  pickupDate: z
    .string("must be a date as YYYY-MM-DD")
    .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date as YYYY-MM-DD"),
});
export type QuoteRequest = z.infer<typeof quoteRequest>;

/** A lane from a bulk upload: the same request, with the weight also as digits (every CSV value is text). */
export const laneRequest = quoteRequest.extend({
  weightLbs: z.preprocess(
    (value) => (typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
    weightLbs,
  ),
});

export function utcToday(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/** Known markets and a real lane (origin differs from destination); errors are pushed to `errors`. */
export function checkLane(
  body: { origin: string; destination: string },
  errors: FieldError[],
): { origin: Market | undefined; destination: Market | undefined } {
  const origin = findMarket(body.origin);
  const destination = findMarket(body.destination);
  if (!origin)
    errors.push({
      field: "origin",
      message: `unknown market '${body.origin}'; GET /v1/locations lists them`,
    });
  if (!destination) {
    errors.push({
      field: "destination",
      message: `unknown market '${body.destination}'; GET /v1/locations lists them`,
    });
  }
  if (origin && destination && origin === destination) {
    errors.push({ field: "destination", message: "must differ from origin; a lane goes somewhere" });
  }
  return { origin, destination };
}

/** The checks a schema cannot express: known markets, a real lane, a legal weight, a pickup day ahead. */
export function checkQuoteRequest(
  body: QuoteRequest,
  maxWeightLbs: Record<Equipment, number>,
  now = new Date(),
): { origin: Market; destination: Market } {
  const errors: FieldError[] = [];
  const { origin, destination } = checkLane(body, errors);
  const maxWeight = maxWeightLbs[body.equipment];
  if (body.weightLbs > maxWeight) {
    errors.push({ field: "weightLbs", message: `must be at most ${maxWeight} lbs for ${body.equipment}` });
  }
  const pickup = new Date(`${body.pickupDate}T00:00:00Z`);
  if (Number.isNaN(pickup.getTime()) || pickup.toISOString().slice(0, 10) !== body.pickupDate) {
    errors.push({ field: "pickupDate", message: "is not a calendar date" });
  } else {
    const today = utcToday(now);
    const latest = new Date(Date.parse(`${today}T00:00:00Z`) + MAX_DAYS_AHEAD * 86_400_000)
      .toISOString()
      .slice(0, 10);
    if (body.pickupDate < today)
      errors.push({ field: "pickupDate", message: `is in the past; the earliest is ${today}` });
    else if (body.pickupDate > latest) {
      errors.push({
        field: "pickupDate",
        message: `is more than ${MAX_DAYS_AHEAD} days ahead; the latest is ${latest}`,
      });
    }
  }
  if (errors.length) throw validationProblem(errors);
  return { origin: origin as Market, destination: destination as Market };
}

/** A priced lane as it is stored and answered, for a quote and a bulk-rated lane alike. */
export interface PricedQuoteFields {
  origin: string;
  destination: string;
  equipment: Equipment;
  weightLbs: number;
  pickupDate: string;
  distanceMiles: number;
  linehaulCents: number;
  fuelSurchargeCents: number;
  marginCents: number;
  totalCents: number;
  pricingVersion: string;
  /** The PricingModel that priced it and the tenant's bucket; absent for a contract rate. */
  pricingModel?: string;
  pricingBucket?: number;
}

/** The fields of a request `body` on its checked `lane`, as priced for its tenant (quote-pricing.ts). */
export function pricedQuoteFields(
  body: QuoteRequest,
  lane: { origin: Market; destination: Market },
  quote: ModelPricedQuote,
): PricedQuoteFields {
  const { priced } = quote;
  return {
    origin: marketKey(lane.origin),
    destination: marketKey(lane.destination),
    equipment: body.equipment,
    weightLbs: body.weightLbs,
    pickupDate: body.pickupDate,
    distanceMiles: priced.distanceMiles,
    linehaulCents: priced.linehaulCents,
    fuelSurchargeCents: priced.fuelSurchargeCents,
    marginCents: priced.marginCents,
    totalCents: priced.totalCents,
    pricingVersion: priced.pricingVersion,
    ...(quote.model === undefined ? {} : { pricingModel: quote.model, pricingBucket: quote.bucket }),
  };
}
