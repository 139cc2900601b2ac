// npm run bench:growth
// The lead-signal job over BENCH_TENANTS tenants (default 100,000) on a throw-away PostgreSQL: every
// tenant with a few quotes in the last 72 hours, one in ten crossing the quote threshold and one in
// twenty the bulk-job one. Measures detectLeadSignals (one set-based statement), the second run that
// must find nothing new, and the delivery of every signal to a local CRM receiver. Goal: the job
// <= 10 s. Then the NPS invitation job over the same tenants, their signups spread over 200 days
// (trials on two in three, conversions on some), so a few hundred reach a milestone: inviteNpsSurveys
// (one set-based statement that also queues the emails) and the re-run that must invite nobody.
// Goal: <= 10 s each. Prints each step, the signals and invitations found, and the machine and load.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import pg from "pg";
import { createPool } from "../app/db/pool.ts";
import { deliverLeadSignals, detectLeadSignals } from "../app/growth/lead-signals.ts";
import { inviteNpsSurveys } from "../app/growth/nps.ts";
import { startTestDatabase } from "../tools/postgres/test-database.ts";

const tenants = Number(process.env.BENCH_TENANTS ?? 100_000);
const goalMs = 10_000;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, load ${load()}`,
);

const db = await startTestDatabase({ seed: "plans" });
const superuser = new pg.Pool({
  connectionString: db.urls.superuser.replace(/\/postgres$/, "/freight"),
  max: 2,
});
const operator = createPool(db.urls.operator, 8);
const crm = createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200).end());
});
await new Promise<void>((resolve) => crm.listen(0, "127.0.0.1", resolve));
const crmUrl = `http://127.0.0.1:${(crm.address() as AddressInfo).port}/crm`;
const failures: string[] = [];
try {
  const at = new Date();
  let began = performance.now();
  await superuser.query(
    `INSERT INTO tenants (slug, name, plan_id, billing_status)
     SELECT 'bench-' || i, 'Bench ' || i, 'starter', CASE WHEN i % 3 = 0 THEN 'active' ELSE 'trialing' END
       FROM generate_series(1, $1) AS i`,
    [tenants],
  );
  // Every tenant quotes 1-2 times in the window; every tenth 4 times; plus older quotes outside it.
  await superuser.query(
    `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                         linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown,
                         pricing_version, expires_at, created_at)
     SELECT t.id, 'Dallas, TX', 'Atlanta, GA', 'dry_van', 20000, current_date, 780, 100000, 10000, 5000,
            115000, '{}', 'bench', $1::timestamptz, $1::timestamptz - make_interval(hours => (n * 17) % 100)
       FROM (SELECT id, row_number() OVER () AS r FROM tenants WHERE slug LIKE 'bench-%') t,
            generate_series(1, CASE WHEN t.r % 10 = 0 THEN 4 ELSE 1 + (t.r % 2)::int END) AS n`,
    [at],
  );
  await superuser.query(
    `INSERT INTO jobs (tenant_id, source, lanes_total, created_at)
     SELECT t.id, 'json', 10, $1::timestamptz - make_interval(hours => n * 5)
       FROM (SELECT id, row_number() OVER () AS r FROM tenants WHERE slug LIKE 'bench-%') t,
            generate_series(1, 2) AS n
      WHERE t.r % 20 = 0`,
    [at],
  );
  await superuser.query("ANALYZE tenants, quotes, jobs");
  console.log(
    `fixture: ${tenants} tenants, quotes and bulk jobs in ${Math.round(performance.now() - began)} ms`,
  );

  began = performance.now();
  const detected = await detectLeadSignals(operator, at);
  const detectMs = performance.now() - began;
  console.log(`detect: ${detected.length} signal(s) in ${Math.round(detectMs)} ms (goal <= ${goalMs} ms)`);
  if (detectMs > goalMs) failures.push(`detection took ${Math.round(detectMs)} ms`);

  began = performance.now();
  const again = await detectLeadSignals(operator, at);
  const againMs = performance.now() - began;
  console.log(`re-run: ${again.length} new signal(s) in ${Math.round(againMs)} ms`);
  if (again.length) failures.push(`a re-run found ${again.length} new signals`);
  if (againMs > goalMs) failures.push(`the re-run took ${Math.round(againMs)} ms`);

  began = performance.now();
  const delivery = await deliverLeadSignals(operator, { url: crmUrl, secret: "bench-crm-signing-secret" });
  console.log(
    `deliver: ${delivery.delivered} delivered, ${delivery.failed} failed, ${delivery.pending} pending in ${Math.round(performance.now() - began)} ms`,
  );
  console.log(`load ${load()}`);

  // NPS: signups spread over 200 days; trialists carry trial_ends_at, one in four paying tenants
  // converted from a trial (trial_conversions), the rest paid from the start.
  began = performance.now();
  await superuser.query(
    `UPDATE tenants SET created_at = $1::timestamptz - make_interval(mins => (abs(hashtext(slug)) % (200 * 1440))),
            trial_ends_at = CASE WHEN billing_status = 'trialing' THEN $1::timestamptz END
      WHERE slug LIKE 'bench-%'`,
    [at],
  );
  await superuser.query(
    `UPDATE tenants SET trial_ends_at = created_at + interval '14 days' WHERE slug LIKE 'bench-%' AND trial_ends_at IS NOT NULL`,
  );
  await superuser.query(
    `INSERT INTO trial_conversions (tenant_id, trial_ends_at, plan_id, converted_at)
     SELECT id, created_at + interval '14 days', plan_id, created_at + interval '14 days'
       FROM tenants WHERE slug LIKE 'bench-%' AND billing_status = 'active' AND abs(hashtext(slug)) % 4 = 0`,
  );
  await superuser.query(
    `UPDATE tenants SET trial_ends_at = created_at + interval '14 days'
      WHERE id IN (SELECT tenant_id FROM trial_conversions)`,
  );
  await superuser.query("ANALYZE tenants, trial_conversions");
  console.log(`nps fixture in ${Math.round(performance.now() - began)} ms`);

  began = performance.now();
  const invited = await inviteNpsSurveys(operator, at);
  const inviteMs = performance.now() - began;
  console.log(
    `nps invite: ${invited.length} invitation(s) in ${Math.round(inviteMs)} ms (goal <= ${goalMs} ms)`,
  );
  if (inviteMs > goalMs) failures.push(`the NPS invitations took ${Math.round(inviteMs)} ms`);
  if (!invited.length) failures.push("the NPS fixture reached no milestone");

  began = performance.now();
  const reinvited = await inviteNpsSurveys(operator, at);
  const reinviteMs = performance.now() - began;
  console.log(`nps re-run: ${reinvited.length} new invitation(s) in ${Math.round(reinviteMs)} ms`);
  if (reinvited.length) failures.push(`an NPS re-run invited ${reinvited.length} tenants again`);
  if (reinviteMs > goalMs) failures.push(`the NPS re-run took ${Math.round(reinviteMs)} ms`);
  console.log(`load ${load()}`);
} finally {
  crm.closeAllConnections();
  await new Promise((resolve) => crm.close(resolve));
  await superuser.end();
  await operator.end();
  await db.stop();
}
if (failures.length) {
  console.error(`FAILED: ${failures.join("; ")}`);
  process.exitCode = 1;
}
