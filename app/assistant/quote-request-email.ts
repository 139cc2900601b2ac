// A quote request drafted from a shipper's email (agent task `quote_request_extraction`): what the
// model is asked, the shape its answer must have, and the rule-based reading the task falls back on
// when the provider cannot answer. The draft is what a person confirms before POST /v1/quotes, so
// an unknown field stays null and is listed in `missing` rather than guessed.
import { z } from "zod";
import { EQUIPMENT } from "../pricing/data.ts";
import { findMarket, marketKey, MARKETS } from "../pricing/markets.ts";

/** The task's payload: the email as received. */
export const shipperEmail = z.object({
  from: z.string().max(320).optional(),
  subject: z.string().max(1000).default(""),
  body: z.string().min(1, "must hold the email's text").max(20_000, "must be at most 20,000 characters"),
});
export type ShipperEmail = z.infer<typeof shipperEmail>;

/** What the model must answer; null where the email does not say. */
export const quoteRequestDraft = z.object({
  origin: z.string().min(3).max(80).nullable(),
  destination: z.string().min(3).max(80).nullable(),
  equipment: z.enum(EQUIPMENT).nullable(),
  weightLbs: z.int().positive().max(100_000).nullable(),
  pickupDate: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .nullable(),
});
export type QuoteRequestDraft = z.infer<typeof quoteRequestDraft>;

export interface QuoteRequestExtraction {
  /** llm: the model read it; rules: the rule-based reading (the provider could not answer). */
  source: "llm" | "rules";
  draft: QuoteRequestDraft;
  /** Fields a person must fill in before the quote can be priced. */
  missing: (keyof QuoteRequestDraft)[];
}

export const EXTRACTION_PROMPT =
  "You read freight shippers' emails and draft a truckload quote request. Answer with one JSON object " +
  'with exactly these keys: "origin" and "destination" (a US market as "City, ST"), "equipment" ' +
  `(one of ${EQUIPMENT.join(", ")}), "weightLbs" (whole pounds), "pickupDate" (YYYY-MM-DD). ` +
  "Use null for anything the email does not state. Never invent values.";

export function extractionUserMessage(email: ShipperEmail): string {
  return `Subject: ${email.subject}\n\n${email.body}`;
}

/** Markets named in the model's answer are normalised to the catalogue's spelling; unknown ones stay. */
export function finishExtraction(
  source: QuoteRequestExtraction["source"],
  draft: QuoteRequestDraft,
): QuoteRequestExtraction {
  const known = (location: string | null) => {
    const market = location ? findMarket(location) : undefined;
    return market ? marketKey(market) : location;
  };
  const finished = { ...draft, origin: known(draft.origin), destination: known(draft.destination) };
  const missing = (Object.keys(finished) as (keyof QuoteRequestDraft)[]).filter((k) => finished[k] === null);
  return { source, draft: finished, missing };
}

const EQUIPMENT_WORDS: [RegExp, (typeof EQUIPMENT)[number]][] = [
  [/\b(reefer|refrigerated|temp(erature)?[- ]controlled|frozen)\b/i, "reefer"],
  [/\bflat\s?bed\b/i, "flatbed"],
  [/\b(dry\s?van|53'? ?(ft|foot)? ?van|van)\b/i, "dry_van"],
];

/**
 * The rule-based reading: markets in the order the email names them (first origin, then
 * destination), equipment by keyword, the first weight in lbs or tons, the first ISO date.
 */
export function extractByRules(email: ShipperEmail): QuoteRequestExtraction {
  const text = `${email.subject}\n${email.body}`;
  const found: { at: number; key: string }[] = [];
  for (const market of MARKETS) {
    const pattern = new RegExp(
      `\\b${market.city.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b(,?\\s*${market.state}\\b)?`,
      "i",
    );
    const match = pattern.exec(text);
    if (match) found.push({ at: match.index, key: marketKey(market) });
  }
  found.sort((a, b) => a.at - b.at);
  const equipment = EQUIPMENT_WORDS.find(([pattern]) => pattern.test(text))?.[1] ?? null;
  const weight = /(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k\b|lbs?\b|pounds\b|tons?\b)/i.exec(text);
  let weightLbs: number | null = null;
  if (weight) {
    const value = Number(weight[1]!.replace(/,/g, ""));
    const unit = weight[2]!.toLowerCase();
    weightLbs = Math.round(unit.startsWith("ton") ? value * 2000 : unit === "k" ? value * 1000 : value);
  }
  const date = /\b(\d{4}-\d{2}-\d{2})\b/.exec(text)?.[1] ?? null;
  return finishExtraction("rules", {
    origin: found[0]?.key ?? null,
    destination: found.find((f) => f.key !== found[0]?.key)?.key ?? null,
    equipment,
    weightLbs: weightLbs && weightLbs > 0 && weightLbs <= 100_000 ? weightLbs : null,
    pickupDate: date,
  });
}
