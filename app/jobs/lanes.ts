// Bulk rating lanes: reading an upload (JSON or CSV) into rows, and pricing one row the way
// POST /v1/quotes prices a lane (same checks, the tenant's version of the same pricing model), with a
// bad row reported, not thrown.
import { fieldErrors, Problem, type FieldError } from "../http/problem.ts";
import type { ModelPricedQuote, QuotePricing } from "../pricing/quote-pricing.ts";
import {
  checkQuoteRequest,
  laneRequest,
  pricedQuoteFields,
  type PricedQuoteFields,
} from "../pricing/quote-request.ts";

/** A lane as the customer sent it: a JSON object, or a CSV record keyed by its header. */
export type LaneInput = Record<string, unknown>;

export const CSV_COLUMNS = ["origin", "destination", "equipment", "weightLbs", "pickupDate"] as const;
/** Header spellings accepted for each column (case and separators ignored). */
const COLUMN_ALIASES: Record<string, (typeof CSV_COLUMNS)[number]> = {
  origin: "origin",
  destination: "destination",
  equipment: "equipment",
  weightlbs: "weightLbs",
  weight: "weightLbs",
  pickupdate: "pickupDate",
  pickup: "pickupDate",
};

export class CsvError extends Error {}

/** RFC 4180 records: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF. */
export function parseCsvRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark from spreadsheet exports
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
    } else if (c === '"') {
      if (field.length > 0)
        throw new CsvError(`line ${line}: a quote inside an unquoted field; quote the whole field`);
      quoted = true;
    } else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      line++;
    } else field += c;
  }
  if (quoted) throw new CsvError(`line ${line}: a quoted field is not closed`);
  if (field.length > 0 || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  // Blank lines (a trailing newline, spacing) are not lanes.
  return records.filter((r) => !(r.length === 1 && r[0]?.trim() === ""));
}

/** CSV upload to lanes: a header naming the columns, then one lane per record. */
export function lanesFromCsv(text: string): LaneInput[] {
  const records = parseCsvRecords(text);
  const header = records.shift();
  if (!header) throw new CsvError(`the file is empty; send a header (${CSV_COLUMNS.join(",")}) and lanes`);
  const columns = header.map((name) => COLUMN_ALIASES[name.toLowerCase().replace(/[^a-z]/g, "")]);
  const missing = CSV_COLUMNS.filter((c) => !columns.includes(c));
  if (missing.length) {
    throw new CsvError(
      `the header lacks ${missing.join(", ")}; the first line must name the columns ${CSV_COLUMNS.join(",")}`,
    );
  }
  return records.map((values) => {
    const lane: LaneInput = {};
    values.forEach((value, index) => {
      const column = columns[index];
      if (column) lane[column] = value.trim();
      else if (value.trim() !== "") lane[`column${index + 1}`] = value;
    });
    return lane;
  });
}

export interface PricedLane extends PricedQuoteFields {
  currency: "USD";
}

export type LaneOutcome =
  | { status: "priced"; result: PricedLane; quote: ModelPricedQuote }
  | { status: "invalid"; errors: FieldError[] };

/** Prices one lane for `tenantId`, or says what is wrong with it. Never throws for a bad lane. */
export function priceLane(
  pricing: QuotePricing,
  tenantId: string,
  input: unknown,
  now = new Date(),
): LaneOutcome {
  const parsed = laneRequest.safeParse(input);
  if (!parsed.success) {
    if (parsed.error.issues.some((issue) => issue.path.length === 0 && issue.code === "invalid_type")) {
      const message = "must be an object with origin, destination, equipment, weightLbs, pickupDate";
      return { status: "invalid", errors: [{ field: "(lane)", message }] };
    }
    // Unknown columns are reported on the lane itself.
    const errors = fieldErrors(parsed.error).map((e) =>
      e.field === "(body)" ? { ...e, field: "(lane)" } : e,
    );
    return { status: "invalid", errors };
  }
  const body = parsed.data;
  try {
    const lane = checkQuoteRequest(body, pricing.engine.data.maxWeightLbs, now);
    const quote = pricing.price(tenantId, {
      ...lane,
      equipment: body.equipment,
      weightLbs: body.weightLbs,
      pickupDate: body.pickupDate,
    });
    return {
      status: "priced",
      quote,
      result: { ...pricedQuoteFields(body, lane, quote), currency: "USD" },
    };
  } catch (error) {
    if (error instanceof Problem && error.body.errors)
      return { status: "invalid", errors: error.body.errors };
    // A lane the engine cannot price (no rate for its month, say) is that row's problem, not the job's.
    return {
      status: "invalid",
      errors: [{ field: "(lane)", message: `could not be priced: ${(error as Error).message}` }],
    };
  }
}

/** One CSV field, quoted when it must be (commas, quotes, line breaks, leading formula characters). */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text =
    typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  // A spreadsheet would run a cell starting with = + - @ as a formula; the customer's own data must not.
  if (/^[=+\-@]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
