import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, withTenant } from "../db/pool.ts";
import { RATE_VARIANCE_SQL } from "../ops/ops-queries.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, pickupInDays, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.stop());

type Client = ReturnType<typeof apiClient>;

async function tenant(): Promise<Client & { tenantId: string }> {
  const provisioned = await provisionTestTenant(t.db, "pro");
  return { ...apiClient(t.url, provisioned.apiKey), tenantId: provisioned.tenantId };
}

/** A booked quote; its total is what the variance is measured against. */
async function booked(client: Client): Promise<{ bookingId: string; totalCents: number }> {
  const quote = await client.post<Record<string, any>>(
    "/v1/quotes",
    quoteBody({ pickupDate: pickupInDays(2) }),
  );
  expect(quote.status).toBe(201);
  const booking = await client.post<Record<string, any>>(`/v1/quotes/${quote.body.id}/book`);
  expect(booking.status).toBe(201);
  return { bookingId: booking.body.bookingId, totalCents: quote.body.totalCents };
}

const today = () => new Date().toISOString().slice(0, 10);

describe("settled actuals", () => {
  it("records a booking's settlement once; the same again changes nothing, other values are refused", async () => {
    const client = await tenant();
    const { bookingId } = await booked(client);
    const body = {
      invoicedCents: 210_000,
      carrierCostCents: 180_000,
      currency: "USD",
      invoiceDate: today(),
      invoiceNumber: "INV-1",
    };
    const first = await client.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      bookingId,
      invoicedCents: 210_000,
      carrierCostCents: 180_000,
      currency: "USD",
    });
    const again = await client.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const changed = await client.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, {
      ...body,
      invoicedCents: 999,
    });
    expect(changed.status).toBe(409);
    expect(changed.body.detail).toContain("invoicedCents 210000 (settled) vs 999 (sent)");
  });

  it("refuses another tenant's booking, a wrong currency and a future invoice, naming the field", async () => {
    const owner = await tenant();
    const { bookingId } = await booked(owner);
    const intruder = await tenant();
    const body = { invoicedCents: 100_000, carrierCostCents: 90_000, currency: "USD", invoiceDate: today() };
    const foreign = await intruder.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, body);
    expect(foreign.status).toBe(404);
    const euros = await owner.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, {
      ...body,
      currency: "EUR",
    });
    expect(euros.status).toBe(422);
    expect(euros.body.errors).toEqual([
      expect.objectContaining({ field: "currency", message: expect.stringContaining("must be USD") }),
    ]);
    const future = await owner.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, {
      ...body,
      invoiceDate: pickupInDays(5),
    });
    expect(future.status).toBe(422);
    expect(future.body.errors[0].field).toBe("invoiceDate");
    const negative = await owner.post<Record<string, any>>(`/v1/bookings/${bookingId}/settlement`, {
      ...body,
      carrierCostCents: -1,
    });
    expect(negative.status).toBe(422);
    // None of the refusals settled it: the owner's real settlement is still the first.
    expect((await owner.post(`/v1/bookings/${bookingId}/settlement`, body)).status).toBe(201);
  });

  it("imports a CSV all or nothing, re-runs as unchanged, and the plan's variance query answers from it", async () => {
    const client = await tenant();
    const a = await booked(client);
    const b = await booked(client);
    const c = await booked(client);
    const foreign = await booked(await tenant());
    const header = "booking_id,invoice_number,invoice_date,invoiced_cents,carrier_cost_cents,currency";
    const line = (bookingId: string, invoiced: number, currency = "USD") =>
      `${bookingId},INV-${invoiced},${today()},${invoiced},${Math.round(invoiced * 0.85)},${currency}`;
    const csv = (lines: string[]) => [header, ...lines].join("\r\n") + "\r\n";
    const headers = { "content-type": "text/csv" };

    // One bad row (another tenant's booking, a euro invoice) refuses the file: nothing is settled.
    const refused = await client.post<Record<string, any>>(
      "/v1/settlements",
      csv([
        line(a.bookingId, a.totalCents),
        line(foreign.bookingId, 100_000),
        line(b.bookingId, b.totalCents, "EUR"),
      ]),
      headers,
    );
    expect(refused.status).toBe(422);
    expect(refused.body.errors.map((e: { field: string }) => e.field)).toEqual(["line 4.currency"]);
    const unknown = await client.post<Record<string, any>>(
      "/v1/settlements",
      csv([line(a.bookingId, a.totalCents), line(foreign.bookingId, 100_000)]),
      headers,
    );
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors).toEqual([
      { field: "line 3.bookingId", message: `no booking ${foreign.bookingId} for this tenant; check the id` },
    ]);
    const missingColumn = await client.post<Record<string, any>>(
      "/v1/settlements",
      "bookingId,invoicedCents\n",
      headers,
    );
    expect(missingColumn.status).toBe(422);
    expect(missingColumn.body.errors[0].message).toContain("lacks invoiceDate, carrierCostCents, currency");

    // Invoiced 10 % over, 10 % under and at the quote: 6.67 % mean absolute variance.
    const file = csv([
      line(a.bookingId, Math.round(a.totalCents * 1.1)),
      line(b.bookingId, Math.round(b.totalCents * 0.9)),
      line(c.bookingId, c.totalCents),
    ]);
    const imported = await client.post<Record<string, any>>("/v1/settlements", file, headers);
    expect(imported.status).toBe(200);
    expect(imported.body).toMatchObject({ received: 3, created: 3, unchanged: 0 });
    const rerun = await client.post<Record<string, any>>("/v1/settlements", file, headers);
    expect(rerun.body).toMatchObject({ received: 3, created: 0, unchanged: 3 });
    // JSON takes the same rows.
    const json = await client.post<Record<string, any>>("/v1/settlements", {
      settlements: [
        {
          bookingId: c.bookingId,
          invoicedCents: c.totalCents,
          carrierCostCents: Math.round(c.totalCents * 0.85),
          currency: "USD",
          invoiceDate: today(),
          invoiceNumber: `INV-${c.totalCents}`,
        },
      ],
    });
    expect(json.body).toMatchObject({ received: 1, created: 0, unchanged: 1 });

    // The plan's query, verbatim, as the tenant's own session reads it (row-level security scopes
    // the view to the tenant; the other tests' settlements are other tenants').
    const app = createPool(t.db.urls.app, 1);
    try {
      const [variance] = await withTenant(
        app,
        client.tenantId,
        async (db) => (await db.query(RATE_VARIANCE_SQL)).rows,
      );
      expect(Number(variance.invoices)).toBe(3);
      expect(Number(variance.avg_abs_variance_pct)).toBeCloseTo(20 / 3, 1);
    } finally {
      await app.end();
    }
  });
});
