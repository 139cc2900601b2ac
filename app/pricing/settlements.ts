// Settled actuals: what a booked load was finally invoiced at and what its carrier was paid. This
// module owns the shape of a settlement and its writes (the API and the CSV import both go through
// settleBookings), so a re-sent settlement is recognised the same way whichever door it came in by.
// A settlement is final: the same one again is "unchanged", a different one for a settled booking is
// refused with both versions named, never overwritten (variance history must not move under analysis).
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { fieldErrors, type FieldError } from "../http/problem.ts";

/** Quotes are priced in US dollars; an invoice in another currency cannot be compared with them. */
export const SETTLEMENT_CURRENCY = "USD";
/** One load's invoice at most, as for contract rates: 100,000.00 USD. */
const MAX_CENTS = 10_000_000;

const cents = (what: string) =>
  z
    .number(`must be ${what} in whole cents, e.g. 185000`)
    .int(`must be whole cents, e.g. 185000`)
    .min(0, "must be 0 or more")
    .max(MAX_CENTS, `must be at most ${MAX_CENTS} (100,000.00 USD) per load`);

export const settlementFields = z.strictObject({
  invoicedCents: cents("the amount the load was finally invoiced at"),
  carrierCostCents: cents("the amount the carrier was paid"),
  currency: z
    .string("must be the invoice's currency, USD")
    .refine(
      (currency) => currency === SETTLEMENT_CURRENCY,
      `must be ${SETTLEMENT_CURRENCY}: quotes are priced in US dollars; convert the invoice to USD before sending it`,
    ),
  invoiceDate: z.iso.date("must be the invoice date as YYYY-MM-DD"),
  invoiceNumber: z.string().trim().max(100, "must be at most 100 characters").default(""),
});
export type SettlementFields = z.infer<typeof settlementFields>;

export const settlementRow = settlementFields.extend({
  bookingId: z.uuid("must be a booking id (UUID)"),
});
export type Settlement = z.infer<typeof settlementRow>;

export interface SettlementRecord extends Settlement {
  quoteId: string;
  settledAt: string;
}

export type SettleOutcome =
  | { status: "created" | "unchanged"; record: SettlementRecord }
  | { status: "not-found"; bookingId: string }
  | { status: "conflict"; existing: SettlementRecord; sent: Settlement };

/** The CSV columns of an import, in the order a template lists them. */
export const SETTLEMENT_CSV_COLUMNS = [
  "bookingId",
  "invoiceNumber",
  "invoiceDate",
  "invoicedCents",
  "carrierCostCents",
  "currency",
] as const;
const NUMERIC_COLUMNS = new Set(["invoicedCents", "carrierCostCents"]);

/**
 * Settlement rows from CSV records (header first): numbers where a column holds one, the rest as
 * sent, so the row schema reports a bad value in the words it uses for JSON.
 */
export function settlementsFromCsv(records: string[][]): { rows: Record<string, unknown>[]; error?: string } {
  const header = records[0];
  if (!header)
    return { rows: [], error: `the file is empty; send a header (${SETTLEMENT_CSV_COLUMNS.join(",")})` };
  const canonical = new Map(SETTLEMENT_CSV_COLUMNS.map((c) => [c.toLowerCase(), c as string]));
  const columns = header.map((name) => canonical.get(name.toLowerCase().replace(/[^a-z]/g, "")));
  const missing = SETTLEMENT_CSV_COLUMNS.filter((c) => c !== "invoiceNumber" && !columns.includes(c));
  if (missing.length) {
    return {
      rows: [],
      error: `the header lacks ${missing.join(", ")}; the first line must name the columns ${SETTLEMENT_CSV_COLUMNS.join(",")}`,
    };
  }
  const rows = records.slice(1).map((values) => {
    const row: Record<string, unknown> = {};
    values.forEach((raw, index) => {
      const column = columns[index];
      const value = raw.trim();
      if (column) row[column] = NUMERIC_COLUMNS.has(column) && /^-?\d+$/.test(value) ? Number(value) : value;
      else if (value !== "") row[`column${index + 1}`] = value;
    });
    return row;
  });
  return { rows };
}

/** Checks every row; errors name the row (1-based, `where`) and the field. */
export function checkSettlements(
  rows: unknown[],
  where: (index: number) => string,
  today: string,
): { settlements: Settlement[]; errors: FieldError[] } {
  const settlements: Settlement[] = [];
  const errors: FieldError[] = [];
  const seen = new Map<string, number>();
  rows.forEach((input, index) => {
    const parsed = settlementRow.safeParse(input);
    if (!parsed.success) {
      errors.push(...fieldErrors(parsed.error, where(index)));
      return;
    }
    const row = parsed.data;
    const rowErrors = rowProblems(row, today).map((e) => ({ ...e, field: `${where(index)}.${e.field}` }));
    const first = seen.get(row.bookingId);
    if (first !== undefined) {
      rowErrors.push({
        field: `${where(index)}.bookingId`,
        message: `booking ${row.bookingId} is also settled by ${where(first)}; a booking has one settlement`,
      });
    }
    seen.set(row.bookingId, index);
    if (rowErrors.length) errors.push(...rowErrors);
    else settlements.push(row);
  });
  return { settlements, errors };
}

/** The checks a schema cannot make alone: an invoice is not dated in the future. */
export function rowProblems(row: SettlementFields, today: string): FieldError[] {
  return row.invoiceDate > today
    ? [{ field: "invoiceDate", message: `is in the future (today is ${today}, UTC); send a settled invoice` }]
    : [];
}

interface InvoiceRow {
  booking_id: string;
  quote_id: string;
  actual_rate_cents: string;
  carrier_cost_cents: string | null;
  currency: string;
  invoice_date: string;
  invoice_number: string;
  created_at: Date;
}

function record(row: InvoiceRow): SettlementRecord {
  return {
    bookingId: row.booking_id,
    quoteId: row.quote_id,
    invoicedCents: Number(row.actual_rate_cents),
    carrierCostCents: row.carrier_cost_cents === null ? 0 : Number(row.carrier_cost_cents),
    // The column holds USD only (its CHECK), as the schema does.
    currency: row.currency as typeof SETTLEMENT_CURRENCY,
    invoiceDate: row.invoice_date,
    invoiceNumber: row.invoice_number,
    settledAt: row.created_at.toISOString(),
  };
}

const SAME_FIELDS = [
  "invoicedCents",
  "carrierCostCents",
  "currency",
  "invoiceDate",
  "invoiceNumber",
] as const;

/**
 * Settles each booking inside the caller's tenant transaction (row-level security hides another
 * tenant's bookings, so those are "not-found"). The insert is ON CONFLICT DO NOTHING on the booking,
 * so two concurrent imports of one file settle once and both read the same settlement back.
 */
export async function settleBookings(db: Db, settlements: Settlement[]): Promise<SettleOutcome[]> {
  if (settlements.length === 0) return [];
  const { rows } = await db.query<InvoiceRow & { ord: number; inserted: boolean }>(
    `WITH sent AS (
       SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::date[], $6::text[])
                WITH ORDINALITY AS s(booking_id, invoiced, carrier_cost, currency, invoice_date, invoice_number, ord)
     ), inserted AS (
       INSERT INTO invoices (tenant_id, booking_id, actual_rate_cents, carrier_cost_cents, currency, invoice_date, invoice_number)
       SELECT current_tenant_id(), s.booking_id, s.invoiced, s.carrier_cost, s.currency, s.invoice_date, s.invoice_number
         FROM sent s JOIN bookings b ON b.id = s.booking_id
       ON CONFLICT (booking_id) DO NOTHING
       RETURNING booking_id, actual_rate_cents, carrier_cost_cents, currency, invoice_date, invoice_number, created_at
     )
     SELECT s.ord::int, b.quote_id, s.booking_id,
            coalesce(n.actual_rate_cents, i.actual_rate_cents) AS actual_rate_cents,
            coalesce(n.carrier_cost_cents, i.carrier_cost_cents) AS carrier_cost_cents,
            coalesce(n.currency, i.currency) AS currency,
            to_char(coalesce(n.invoice_date, i.invoice_date), 'YYYY-MM-DD') AS invoice_date,
            coalesce(n.invoice_number, i.invoice_number) AS invoice_number,
            coalesce(n.created_at, i.created_at) AS created_at,
            n.booking_id IS NOT NULL AS inserted
       FROM sent s
       LEFT JOIN bookings b ON b.id = s.booking_id
       LEFT JOIN inserted n ON n.booking_id = s.booking_id
       LEFT JOIN invoices i ON i.booking_id = s.booking_id
      ORDER BY s.ord`,
    [
      settlements.map((s) => s.bookingId),
      settlements.map((s) => s.invoicedCents),
      settlements.map((s) => s.carrierCostCents),
      settlements.map((s) => s.currency),
      settlements.map((s) => s.invoiceDate),
      settlements.map((s) => s.invoiceNumber),
    ],
  );
  return rows.map((row, index): SettleOutcome => {
    const sent = settlements[index] as Settlement;
    if (row.quote_id === null) return { status: "not-found", bookingId: sent.bookingId };
    if (row.actual_rate_cents === null) {
      // A settlement committed by a concurrent request after our snapshot: the insert saw the
      // conflict, the snapshot does not see the row. Asking again is the caller's retry.
      throw new Error(`settlement of booking ${sent.bookingId} committed concurrently; retry the request`);
    }
    const stored = record(row);
    if (row.inserted) return { status: "created", record: stored };
    const same = SAME_FIELDS.every((field) => stored[field] === sent[field]);
    return same ? { status: "unchanged", record: stored } : { status: "conflict", existing: stored, sent };
  });
}

/** A conflict in words: which fields differ, from what to what. */
export function conflictDetail(existing: SettlementRecord, sent: Settlement): string {
  const differences = SAME_FIELDS.filter((field) => existing[field] !== sent[field]).map(
    (field) =>
      `${field} ${JSON.stringify(existing[field])} (settled) vs ${JSON.stringify(sent[field])} (sent)`,
  );
  return (
    `Booking ${existing.bookingId} was settled at ${existing.settledAt} and a settlement is final: ` +
    `${differences.join(", ")}. Send the settled values again (a no-op), or ask ops to correct the invoice.`
  );
}
