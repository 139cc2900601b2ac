// Contract rates as stored (contract_rates, migration 0009): the one module that reads and writes
// them, for the contract-rates routes (create, list, end) and the quote path (the rate for a lane
// and pickup day). Windows of one lane never overlap, so a pickup day has at most one rate. The
// tenant row keeps the last day any rate covers, read with the API key: a quote beyond it (or of a
// tenant with no rates) skips the lookup. Ending a rate leaves that day as it was (a lookup more,
// never a rate missed); a new rate reaches other replicas' cached keys within AUTH_CACHE_SECONDS.
import type pg from "pg";
import type { Db } from "../db/pool.ts";
import type { Equipment } from "./data.ts";
import type { ContractRate } from "./engine.ts";

export interface ContractRateRecord extends ContractRate {
  origin: string;
  destination: string;
  equipment: Equipment;
  reference: string;
  createdAt: string;
  endedAt: string | null;
}

interface Row {
  id: string;
  origin: string;
  destination: string;
  equipment: Equipment;
  linehaul_cents: number;
  valid_from: string;
  valid_to: string;
  reference: string;
  created_at: Date;
  ended_at: Date | null;
}

const COLUMNS =
  "id, origin, destination, equipment, linehaul_cents, valid_from, valid_to, reference, created_at, ended_at";

function toRecord(row: Row): ContractRateRecord {
  return {
    id: row.id,
    origin: row.origin,
    destination: row.destination,
    equipment: row.equipment,
    linehaulCents: row.linehaul_cents,
    validFrom: row.valid_from,
    validTo: row.valid_to,
    reference: row.reference,
    createdAt: row.created_at.toISOString(),
    endedAt: row.ended_at ? row.ended_at.toISOString() : null,
  };
}

export interface LaneKey {
  origin: string;
  destination: string;
  equipment: Equipment;
}

export interface NewContractRate extends LaneKey {
  linehaulCents: number;
  validFrom: string;
  validTo: string;
  reference: string;
}

/**
 * Serialises writers of one lane of the tenant in context for the rest of the transaction, so two
 * concurrent creates cannot both find no overlap and both insert.
 */
export async function lockLane(db: Db, lane: LaneKey): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtextextended(current_tenant_id() || '|' || $1, 9))", [
    `${lane.origin}|${lane.destination}|${lane.equipment}`,
  ]);
}

/** The lane's rates whose windows share a day with [validFrom, validTo]. */
export async function overlappingRates(
  db: Db,
  lane: LaneKey,
  validFrom: string,
  validTo: string,
): Promise<ContractRateRecord[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contract_rates
      WHERE origin = $1 AND destination = $2 AND equipment = $3 AND valid_from <= $5 AND valid_to >= $4
      ORDER BY valid_from`,
    [lane.origin, lane.destination, lane.equipment, validFrom, validTo],
  );
  return rows.map(toRecord);
}

/** Extends the tenant's contract horizon (tenants.contract_rates_until) to cover `validTo`. */
async function extendHorizon(db: Db, validTo: string): Promise<void> {
  await db.query(
    `UPDATE tenants SET contract_rates_until = greatest(contract_rates_until, $1::date)
      WHERE id = current_tenant_id() AND contract_rates_until IS DISTINCT FROM greatest(contract_rates_until, $1::date)`,
    [validTo],
  );
}

export async function insertContractRate(db: Db, rate: NewContractRate): Promise<ContractRateRecord> {
  await extendHorizon(db, rate.validTo);
  const { rows } = await db.query<Row>(
    `INSERT INTO contract_rates (tenant_id, origin, destination, equipment, linehaul_cents, valid_from, valid_to, reference)
     VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
    [
      rate.origin,
      rate.destination,
      rate.equipment,
      rate.linehaulCents,
      rate.validFrom,
      rate.validTo,
      rate.reference,
    ],
  );
  return toRecord(rows[0] as Row);
}

export async function listContractRates(
  db: Db,
  filter: Partial<LaneKey> & { activeOn?: string; limit: number; offset: number },
): Promise<ContractRateRecord[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contract_rates
      WHERE ($1::text IS NULL OR origin = $1) AND ($2::text IS NULL OR destination = $2)
        AND ($3::text IS NULL OR equipment = $3)
        AND ($4::date IS NULL OR $4::date BETWEEN valid_from AND valid_to)
      ORDER BY origin, destination, equipment, valid_from, id
      LIMIT $5 OFFSET $6`,
    [
      filter.origin ?? null,
      filter.destination ?? null,
      filter.equipment ?? null,
      filter.activeOn ?? null,
      filter.limit,
      filter.offset,
    ],
  );
  return rows.map(toRecord);
}

export async function contractRateById(
  db: Db,
  id: string,
  forUpdate = false,
): Promise<ContractRateRecord | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM contract_rates WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [id],
  );
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Ends a rate after `lastDay` (the day before its first day withdraws it whole). */
export async function endContractRate(db: Db, id: string, lastDay: string): Promise<ContractRateRecord> {
  const { rows } = await db.query<Row>(
    `UPDATE contract_rates SET valid_to = $2, ended_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, lastDay],
  );
  return toRecord(rows[0] as Row);
}

/** The tenant's rate for a lane on a pickup day, in one round trip (see contract_rate_for). */
export async function contractRateFor(
  pool: pg.Pool,
  tenantId: string,
  lane: LaneKey,
  pickupDate: string,
): Promise<ContractRate | undefined> {
  const { rows } = await pool.query<{
    id: string;
    linehaul_cents: number;
    valid_from: string;
    valid_to: string;
  }>({
    name: "contract-rate-for",
    text: "SELECT * FROM contract_rate_for($1, $2, $3, $4, $5)",
    values: [tenantId, lane.origin, lane.destination, lane.equipment, pickupDate],
  });
  const row = rows[0];
  return row
    ? { id: row.id, linehaulCents: row.linehaul_cents, validFrom: row.valid_from, validTo: row.valid_to }
    : undefined;
}
