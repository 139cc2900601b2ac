// The tenant lifecycle's jobs and tasks on the two-region local platform, run exactly as the stacks
// deploy them: the trial-expiry CronJob (billing's login, Stripe, Tenant writes as its own
// ServiceAccount) ends a lapsed trial; the onboarding-nudges CronJob finds a quiet tenant and the
// platform's runner mails it; a limit-increase request reaches the ops receiver and ops' one command
// raises the limit the region's tenant controller enforces, and the tenant is mailed. The weekly
// evidence CronJob runs the same way: its own ServiceAccount for RBAC, its three logins (freight_ops
// on the streaming replica: the primary refuses it), rotation dates from the region's Secrets Manager,
// CI's published SBOM and OSV report from the region's documents bucket, and stores a chained
// snapshot. The primary API's aggregate gauges read the replica too.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateApiKey } from "../../app/http/auth.ts";
import { SUPPLY_CHAIN_PREFIX } from "../../app/compliance/supply-chain-reports.ts";
import { main as limits } from "../../app/ops/limits.ts";
import { TENANTS_NAMESPACE } from "../../operators/api/rbac.ts";
import { tenants } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { publishSupplyChain } from "../supply-chain/publish.ts";
import { apiClient } from "./api-client.ts";
import { applyAs, waitFor } from "./operators.ts";
import { startPlatform, type LocalPlatform } from "./platform.ts";

let platform: LocalPlatform;

beforeAll(async () => {
  platform = await startPlatform({ name: "life", seed: "plans" });
}, buildTimeoutMs);
afterAll(() => platform?.stop());

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const urls = () => platform.primaryDatabase.urls;
const getTenant = (slug: string) =>
  platform.regions.primary.admin.get<Tenant>(tenants, slug, TENANTS_NAMESPACE);

/** A Tenant on the primary's control plane, provisioned by its tenant controller; returns its id. */
async function tenant(slug: string, spec: Partial<Tenant["spec"]> = {}): Promise<string> {
  await applyAs(platform.regions.primary.admin, tenants, {
    kind: "Tenant",
    metadata: { name: slug, namespace: TENANTS_NAMESPACE },
    spec: { displayName: slug, plan: "pro", ...spec },
  });
  return waitFor(
    `${slug} provisioned`,
    async () =>
      (
        await query<{ id: string }>(
          urls().operator,
          "SELECT t.id FROM tenants t JOIN entitlements e ON e.tenant_id = t.id WHERE t.slug = $1 AND e.meter = 'quotes'",
          [slug],
        )
      )[0]?.id,
    { timeoutMs: 30_000 },
  );
}

describe("tenant lifecycle jobs on the local platform", () => {
  it("the primary API's aggregate gauges read freight_ops on the replica, where the primary refuses it", async () => {
    await expect(query(urls().ops, "SELECT count(*) FROM usage_warnings")).rejects.toThrow(
      /^freight_ops reads only on the analytics replica, and this server is the primary/,
    );
    // The labelled gauges appear only after a refresh whose every query succeeded
    // (app/observability/gauges.ts): a refused read leaves them absent and this wait times out.
    await waitFor(
      "the aggregate gauges",
      async () =>
        /^pen_test_findings_open\{finding_severity="critical",due="overdue"\} 0$/m.test(
          await (await fetch(`${platform.regions.primary.apiUrl}/metrics`)).text(),
        ),
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
  }, 90_000);

  it("the trial-expiry CronJob ends a lapsed trial as billing, through its own ServiceAccount", async () => {
    const id = await tenant("lapsed-trial-co", { billingStatus: "trialing" });
    await query(
      urls().operator,
      "UPDATE tenants SET trial_ends_at = now() - interval '1 hour' WHERE id = $1",
      [id],
    );
    await waitFor("row trialing", async () => {
      const [row] = await query<{ billing_status: string }>(
        urls().operator,
        "SELECT billing_status FROM tenants WHERE id = $1",
        [id],
      );
      return row?.billing_status === "trialing";
    });
    const job = await platform.runJob("primary", "trial-expiry");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toMatch(/applied\s+lapsed-trial-co\s+starter\/canceled/);
    expect((await getTenant("lapsed-trial-co")).spec).toMatchObject({
      plan: "starter",
      billingStatus: "canceled",
    });
  }, 120_000);

  it("the onboarding-nudges CronJob nudges a quiet tenant once and the runner mails it", async () => {
    const id = await tenant("quiet-freight-co");
    await query(
      urls().billing,
      "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email) VALUES ($1, 'cus_quiet', 'ops@quiet.example')",
      [id],
    );
    await query(
      urls().operator,
      "UPDATE tenants SET created_at = now() - interval '25 hours' WHERE id = $1",
      [id],
    );
    const job = await platform.runJob("primary", "onboarding-nudges");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toContain("tenant quiet-freight-co has not sent a quote");
    const again = await platform.runJob("primary", "onboarding-nudges");
    expect(again.output).not.toContain("quiet-freight-co");
    const mail = await waitFor("the nudge email", async () => platform.mailbox.to("ops@quiet.example")[0], {
      timeoutMs: 30_000,
    });
    expect(mail.mail.subject).toBe("Send your first freight quote");
  }, 120_000);

  it("a limit-increase request reaches ops, and one command raises the enforced limit", async () => {
    const id = await tenant("growing-freight-co");
    await query(
      urls().billing,
      "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email) VALUES ($1, 'cus_growing', 'ops@growing.example')",
      [id],
    );
    const key = generateApiKey("test");
    await query(
      urls().operator,
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, $2, decode($3, 'hex'), 'lifecycle')",
      [id, key.prefix, key.hash],
    );
    const client = apiClient(platform.regions.primary.apiUrl, key.key);
    const asked = await client.post<Record<string, any>>("/v1/limit-increase-requests", {
      meter: "quotes",
      requestedLimit: 250_000,
      reason: "Onboarding a national shipper",
    });
    expect(asked.status).toBe(201);
    const event = await waitFor(
      "ops told",
      async () => platform.ops.events("limit_increase_requested").find((e) => e.requestId === asked.body.id),
      { timeoutMs: 30_000 },
    );
    expect(event.tenantSlug).toBe("growing-freight-co");

    const quiet = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const code = await limits(["approve", asked.body.id, "--by", "oncall@freight.dev"], {
        OPERATOR_DATABASE_URL: urls().operator,
        KUBECONFIG: platform.regions.primary.cluster.kubeconfigPath,
      });
      expect(code).toBe(0);
    } finally {
      quiet.mockRestore();
    }
    await waitFor(
      "the region enforces the grant",
      async () => {
        const usage = await client.get<Record<string, any>>("/v1/usage");
        return usage.body.meters.find((m: { meter: string }) => m.meter === "quotes")?.included === 250_000;
      },
      { timeoutMs: 30_000 },
    );
    const mail = await waitFor("the grant email", async () => platform.mailbox.to("ops@growing.example")[0], {
      timeoutMs: 30_000,
    });
    expect(mail.mail.subject).toBe("Your quotes limit is now 250,000");
  }, 120_000);

  it("the evidence CronJob snapshots every control, chained, as the stacks schedule it", async () => {
    // The platform created the stacks' secrets in the region's Secrets Manager (moto) at start:
    // every one is inside its window. CI's last step publishes the SBOM and OSV report to the
    // primary's documents bucket, where the stacks point the job (EVIDENCE_SUPPLY_CHAIN_S3_URI).
    const documents = platform.regions.primary.workloads
      .map((w) => w.env["DOCUMENTS_BUCKET_PRIMARY"])
      .find(Boolean)!
      .split("@")[0]!;
    const reports = mkdtempSync(join(tmpdir(), "supply-chain-"));
    writeFileSync(
      join(reports, "sbom.json"),
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.6", components: [{ name: "pg" }] }),
    );
    writeFileSync(join(reports, "osv.json"), JSON.stringify({ results: [] }));
    const s3 = platform.s3.primary.client();
    try {
      await publishSupplyChain({
        client: s3,
        location: { bucket: documents, prefix: SUPPLY_CHAIN_PREFIX },
        release: "local",
        dir: reports,
      });
    } finally {
      s3.destroy();
      rmSync(reports, { recursive: true, force: true });
    }
    const job = await platform.runJob("primary", "evidence", { timeoutMs: 600_000 });
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toMatch(
      /^pass {2}CC6\.1-tenant-isolation \(platform-data\): all \d+ isolation checks passed$/m,
    );
    expect(job.output).toMatch(
      /^pass {2}CC6\.1-secret-rotation \(security\): \d+ secrets within their windows/m,
    );
    expect(job.output).toMatch(
      /^pass {2}CC7\.1-supply-chain \(.*\): SBOM of 1 components; no known vulnerability$/m,
    );
    expect(job.output).toMatch(/^pass {2}CC6\.3-cluster-access \(platform-runtime\)/m);
    expect(job.output).toMatch(
      /^pass {2}CC6\.1-analytics-on-replica \(platform-data\): freight_ops refused on the primary; the evidence read the registers on a replica$/m,
    );
    expect(job.output).toMatch(/Snapshot \d+ stored, hash [0-9a-f]{64}/);
    const [row] = await query<{ n: string }>(urls().operator, "SELECT count(*) AS n FROM evidence_snapshots");
    expect(Number(row!.n)).toBeGreaterThanOrEqual(1);
  }, 660_000);
});
