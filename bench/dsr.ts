// `npm run bench:dsr`: the data subject request goal, a whole tenant's access export with 100,000
// quotes and 1,000 documents in <= 60 s, measured as the runner does it (fulfilRequest on the
// runner's role: every tenant table read in one snapshot, every document read from S3 and checked
// against its SHA-256, the bundle written and stored) on a throw-away PostgreSQL and two S3 gateways.
//   npm run bench:dsr -- --quotes 100000 --documents 1000 --kilobytes 100
import { createHash, randomBytes } from "node:crypto";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { fulfilRequest } from "../app/compliance/dsr/fulfil.ts";
import { receiveRequest, verifyRequest } from "../app/compliance/dsr/lifecycle.ts";
import { createPool, withTenant } from "../app/db/pool.ts";
import { DocumentStore } from "../app/documents/storage.ts";
import { startTestDatabase } from "../tools/postgres/test-database.ts";
import { startS3Server } from "../tools/s3/versitygw.ts";

const { values } = parseArgs({
  options: {
    quotes: { type: "string", default: "100000" },
    documents: { type: "string", default: "1000" },
    kilobytes: { type: "string", default: "100" },
    goal: { type: "string", default: "60" },
  },
});
const quotes = Number(values.quotes);
const documents = Number(values.documents);
const size = Number(values.kilobytes) * 1024;
if (documents > quotes)
  throw new Error("--documents must be at most --quotes: each document hangs on a booked quote");

const BUCKETS = { primary: "bench-dsr-us-east-1", secondary: "bench-dsr-us-west-2" };
const credentials = { accessKeyId: "AKBENCHDSR", secretAccessKey: randomBytes(20).toString("hex") };
const [primary, secondary] = await Promise.all([
  startS3Server({ region: "us-east-1", ...credentials }),
  startS3Server({ region: "us-west-2", ...credentials }),
]);
const db = await startTestDatabase({ seed: "demo" });
process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
// The seeding bypasses row security as the server's superuser: it is the set-up, not what is measured.
const superuser = createPool(db.urls.superuser.replace(/\/postgres$/, "/freight"), 4);
const runner = createPool(db.urls.runner, 4);
const operator = createPool(db.urls.operator, 2);
try {
  await primary.createBuckets(BUCKETS.primary);
  await secondary.createBuckets(BUCKETS.secondary);
  const { rows } = await superuser.query<{ id: string }>(
    "SELECT id FROM tenants WHERE slug = 'acme-logistics'",
  );
  const tenantId = rows[0]!.id;
  const seedStart = performance.now();
  await superuser.query(
    `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                         linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
     SELECT $1, 'Chicago, IL', 'Dallas, TX', 'dry_van', 20000 + g, current_date + 3, 967, 180000 + g, 21000, 15000,
            216000 + g, '{"ratePerMile": 1.86, "fuelPerMile": 0.22, "marketIndex": 1.02}', 'bench', now() + interval '7 days'
       FROM generate_series(1, $2) g`,
    [tenantId, quotes],
  );
  await superuser.query(
    `INSERT INTO bookings (tenant_id, quote_id, total_cents)
     SELECT tenant_id, id, total_cents FROM quotes WHERE tenant_id = $1 AND pricing_version = 'bench' LIMIT $2`,
    [tenantId, documents],
  );
  const { rows: bookings } = await superuser.query<{ id: string }>(
    "SELECT b.id FROM bookings b JOIN quotes q ON q.id = b.quote_id WHERE q.pricing_version = 'bench'",
  );
  const s3 = primary.client();
  for (let i = 0; i < bookings.length; i += 16) {
    await Promise.all(
      bookings.slice(i, i + 16).map(async (booking, j) => {
        const bytes = randomBytes(size);
        const key = `tenants/${tenantId}/documents/bench-${i + j}`;
        const put = await s3.send(new PutObjectCommand({ Bucket: BUCKETS.primary, Key: key, Body: bytes }));
        await superuser.query(
          `INSERT INTO documents (tenant_id, booking_id, kind, file_name, content_type, size_bytes, sha256, object_key,
                                  stored_in, state, version_id, upload_expires_at, confirmed_at)
           VALUES ($1, $2, 'proof_of_delivery', $3, 'application/pdf', $4, $5, $6, 'primary', 'available', $7, now(), now())`,
          [
            tenantId,
            booking.id,
            `pod-${i + j}.pdf`,
            size,
            createHash("sha256").update(bytes).digest("base64"),
            key,
            put.VersionId,
          ],
        );
      }),
    );
  }
  console.log(
    `seeded ${quotes} quotes and ${bookings.length} documents of ${size / 1024} KiB in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
  );

  const request = await withTenant(operator, tenantId, async (tx) => {
    const received = await receiveRequest(tx, tenantId, {
      kind: "access",
      scope: "tenant",
      requestedBy: "ops:bench",
    });
    return verifyRequest(tx, received.id, "ops:bench", "benchmark");
  });
  const store = new DocumentStore(
    {
      primary: { bucket: BUCKETS.primary, region: "us-east-1", endpoint: primary.endpoint },
      secondary: { bucket: BUCKETS.secondary, region: "us-west-2", endpoint: secondary.endpoint },
    },
    { uploadTtlSeconds: 0, downloadTtlSeconds: 0, probeIntervalMs: 0, timeoutMs: 10_000 },
  );
  const start = performance.now();
  const done = await fulfilRequest({ pool: runner, documents: store, actor: "bench" }, tenantId, request.id);
  const seconds = (performance.now() - start) / 1000;
  store.stop();
  const outcome = done.outcome as { bytes: number; rows: Record<string, number>; documents: number };
  console.log(
    JSON.stringify({
      bench: "dsr-tenant-export",
      quotes: outcome.rows.quotes,
      documents: outcome.documents,
      bundleBytes: outcome.bytes,
      seconds: Number(seconds.toFixed(2)),
      goalSeconds: Number(values.goal),
      met: seconds <= Number(values.goal),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        loadavg: loadavg(),
      },
    }),
  );
  if (outcome.rows.quotes !== quotes || outcome.documents !== bookings.length)
    throw new Error(
      `the bundle is incomplete: ${outcome.rows.quotes} quotes, ${outcome.documents} documents`,
    );
} finally {
  await Promise.all([superuser.end(), runner.end(), operator.end()]);
  await db.stop();
  await primary.destroy();
  await secondary.destroy();
}
