// A quote explained in plain words for the shipper (agent task `quote_explanation`): the prompt, the
// answer's shape, and the template explanation the task falls back on when the provider cannot
// answer. The figures come from the quote as priced; the model only words them, and an answer that
// states a different total is refused (a made-up price is worse than a plain template).
import { z } from "zod";
import { EQUIPMENT } from "../pricing/data.ts";

/** The task's payload: the priced quote's figures (a subset of the API's quote view). */
export const quoteFigures = z.object({
  quoteId: z.string().min(1),
  origin: z.string(),
  destination: z.string(),
  equipment: z.enum(EQUIPMENT),
  weightLbs: z.number(),
  distanceMiles: z.number(),
  totalCents: z.int(),
  breakdown: z.object({
    linehaulCents: z.int(),
    fuelSurchargeCents: z.int(),
    marginCents: z.int(),
    seasonalityIndex: z.number(),
    weightFactor: z.number(),
    equipmentFactor: z.number(),
  }),
});
export type QuoteFigures = z.infer<typeof quoteFigures>;

export const quoteExplanationAnswer = z.object({
  summary: z.string().min(10).max(2000),
  totalCents: z.int(),
});

export interface QuoteExplanation {
  source: "llm" | "template";
  summary: string;
}

export const EXPLANATION_PROMPT =
  "You explain truckload freight quotes to shippers in two or three plain sentences: what drives the " +
  'price (distance, linehaul, fuel, season, weight, equipment). Answer with one JSON object {"summary": ' +
  'string, "totalCents": the quote\'s total in cents exactly as given}. Use only the figures given.';

export function explanationUserMessage(quote: QuoteFigures): string {
  return JSON.stringify(quote);
}

const dollars = (cents: number) =>
  `$${(cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** The template explanation: the same figures, in fixed sentences. */
export function explainByTemplate(quote: QuoteFigures): QuoteExplanation {
  const b = quote.breakdown;
  const drivers: string[] = [];
  if (b.seasonalityIndex > 1.02) drivers.push("seasonal demand is above average");
  if (b.seasonalityIndex < 0.98) drivers.push("seasonal demand is below average");
  if (b.weightFactor > 1) drivers.push(`the load (${quote.weightLbs.toLocaleString("en-US")} lbs) is heavy`);
  if (b.equipmentFactor > 1)
    drivers.push(`${quote.equipment.replace("_", " ")} equipment costs more than a dry van`);
  return {
    source: "template",
    summary:
      `${quote.origin} to ${quote.destination} is about ${Math.round(quote.distanceMiles)} miles: ` +
      `${dollars(b.linehaulCents)} linehaul, ${dollars(b.fuelSurchargeCents)} fuel surcharge and ` +
      `${dollars(b.marginCents)} margin, ${dollars(quote.totalCents)} in total.` +
      (drivers.length ? ` The price is higher because ${drivers.join(" and ")}.` : ""),
  };
}
