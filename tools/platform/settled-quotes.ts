// Test data for the pricing rollout's analysis: quotes priced by a version, some of them booked and
// invoiced at a chosen drift from the quote, written as the app writes them (under the tenant's RLS).
import type pg from "pg";
import { withTenant } from "../../app/db/pool.ts";

/**
 * `count` quotes priced by `version` for the tenant; the first `settled` are booked and invoiced
 * `drift` off the quoted total (alternately above and below), at a 13 % carrier margin.
 */
export async function seedSettledQuotes(
  app: pg.Pool,
  tenantId: string,
  version: string,
  { count, settled, drift }: { count: number; settled: number; drift: number },
): Promise<void> {
  await withTenant(app, tenantId, async (c) => {
    for (let i = 0; i < count; i++) {
      const total = 200_000;
      const q = await c.query<{ id: string }>(
        `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles, linehaul_cents,
           fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
         VALUES (current_tenant_id(), 'Chicago, IL', 'Dallas, TX', 'dry_van', 30000, current_date, 900, 0, 0, 0, $1, '{}', $2, now())
         RETURNING id`,
        [total, version],
      );
      if (i >= settled) continue;
      const b = await c.query<{ id: string }>(
        "INSERT INTO bookings (tenant_id, quote_id, total_cents) VALUES (current_tenant_id(), $1, $2) RETURNING id",
        [q.rows[0]!.id, total],
      );
      const invoiced = Math.round(total * (1 + (i % 2 ? drift : -drift)));
      await c.query(
        `INSERT INTO invoices (tenant_id, booking_id, actual_rate_cents, carrier_cost_cents, invoice_date)
         VALUES (current_tenant_id(), $1, $2, $3, current_date)`,
        [b.rows[0]!.id, invoiced, Math.round(invoiced * 0.87)],
      );
    }
  });
}
