// The two-region local platform as `npm start` runs it: both regions' processes started from the
// stacks' manifests answer, the standby region sends writes to the active one, the operators
// reconcile a Tenant, and every process holds exactly its pod's ServiceAccount and nothing more.
import { createHash } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Region } from "../../operators/api/regionfailover.ts";
import pg from "pg";
import { PRICING } from "../../app/pricing/data.ts";
import { OPERATOR_NAMESPACE } from "../../operators/api/group.ts";
import type { PricingModel } from "../../operators/api/pricingmodel.ts";
import { plans, pricingModels, tenants } from "../../operators/api/resources.ts";
import { SPOT_PRICING_MODEL } from "../../infra/workloads/pricing-model.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { KubeApiError, KubeClient } from "../../operators/runtime/kube.ts";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { apiClient, quoteBody } from "./api-client.ts";
import { applyAs, waitFor } from "./operators.ts";
import { LOCAL_CONSOLE_SESSION_SECRET } from "./local-deploy.ts";
import { ConsoleSessions, CONSOLE_COOKIE, CSRF_COOKIE, CSRF_HEADER } from "../../app/console/session.ts";
import { fixedSecret } from "../../app/secret-file.ts";
import { REGIONS, startPlatform, type LocalPlatform } from "./platform.ts";

let platform: LocalPlatform;

beforeAll(async () => {
  platform = await startPlatform({ name: "platform-test" });
}, buildTimeoutMs);
afterAll(() => platform?.stop());

describe("two-region local platform", () => {
  it("starts the quote API (billing on), runner and operators the stacks deploy; both APIs are ready", async () => {
    for (const region of REGIONS) {
      const ready = await fetch(`${platform.regions[region].apiUrl}/readyz`);
      expect(ready.status, region).toBe(200);
      expect(((await ready.json()) as { role: string }).role).toBe(region);
    }
    // Billing is on in both regions, against the local Stripe stand-in. The standby region serves
    // reads once the failover controller has seen it healthy (until then it sends users to the primary).
    const key = Object.values(platform.apiKeys)[0]!;
    for (const region of REGIONS) {
      await waitFor(`${region} billing status`, async () => {
        const billing = await fetch(`${platform.regions[region].apiUrl}/v1/billing/status`, {
          headers: { authorization: `Bearer ${key}` },
          redirect: "manual",
        });
        return billing.status === 200;
      });
    }
    expect(platform.stripe).toBeDefined();
    const started = (region: Region) => platform.regions[region].processes.map((p) => p.deployment).sort();
    expect(started("primary")).toEqual(["freight-operators", "quote-api", "runner"]);
    expect(started("secondary")).toEqual(expect.arrayContaining(["freight-operators", "quote-api"]));
  });

  it("upgrades at the Stripe stand-in's Checkout page: the signed webhook reaches the serving region and moves the plan", async () => {
    // What a presenter clicks through: a self-serve tenant's checkout URL is a page with a Pay button;
    // paying redirects back, Stripe's checkout.session.completed arrives signed with the stack's
    // webhook secret, and billing patches the Tenant as the API's ServiceAccount.
    const primary = platform.regions.primary.apiUrl;
    const email = `upgrade@platform-${Date.now().toString(36)}.com`;
    const signup = await fetch(`${primary}/v1/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ company: `Upgrade Haulers ${email.slice(17, 25)}`, email, plan: "starter" }),
    });
    expect(signup.status).toBe(201);
    const created = (await signup.json()) as { tenant: { id: string; slug: string } };
    // The console's Upgrade button, as the signed-in admin: its session cookie and CSRF token.
    const sessions = new ConsoleSessions(fixedSecret(LOCAL_CONSOLE_SESSION_SECRET));
    const { value, session } = sessions.issue(created.tenant.id, email);
    const csrfCookie = "platform-test-csrf-cookie";
    const client = apiClient(primary);
    const checkout = await client.post<{ url: string }>(
      "/v1/billing/checkout-sessions",
      { plan: "pro" },
      {
        cookie: `${CONSOLE_COOKIE}=${value}; ${CSRF_COOKIE}=${csrfCookie}`,
        [CSRF_HEADER]: sessions.csrfToken(csrfCookie, session.id),
      },
    );
    expect(checkout.status).toBe(201);
    expect(checkout.body.url.startsWith(`${platform.stripe!.url}/c/pay/`)).toBe(true);
    expect(await (await fetch(checkout.body.url)).text()).toContain("Pay $499.00");
    const paid = await fetch(checkout.body.url, { method: "POST", redirect: "manual" });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toMatch(new RegExp(`^${primary}/`));
    const delivery = await waitFor(
      "checkout.session.completed accepted",
      () =>
        platform.stripe!.webhookDeliveries.find(
          (d) => d.type === "checkout.session.completed" && d.status === 200,
        ),
      { timeoutMs: 60_000 },
    );
    expect(delivery.url).toBe(`${primary}/webhooks/stripe`);
    await waitFor(
      "the Tenant on pro",
      async () =>
        (await platform.regions.primary.admin.get<Tenant>(tenants, created.tenant.slug, "tenants")).spec
          .plan === "pro",
      { timeoutMs: 60_000 },
    );
  });

  it("takes a document's upload and serves its download through the active region's S3, as deployed", async () => {
    const client = apiClient(platform.regions.primary.apiUrl, Object.values(platform.apiKeys)[1]!);
    const quote = await client.post<{ id: string }>("/v1/quotes", quoteBody());
    const booked = await client.post<{ bookingId: string }>(`/v1/quotes/${quote.body.id}/book`);
    const file = Buffer.from("%PDF-1.7 proof of delivery, signed at the dock");
    const attached = await client.post<Record<string, any>>(
      `/v1/bookings/${booked.body.bookingId}/documents`,
      {
        kind: "proof_of_delivery",
        fileName: "pod.pdf",
        contentType: "application/pdf",
        sizeBytes: file.length,
        sha256: createHash("sha256").update(file).digest("base64"),
      },
    );
    expect(attached.status).toBe(201);
    expect(attached.body.upload.url.startsWith(platform.s3.primary.endpoint)).toBe(true);
    const { "content-length": _length, ...headers } = attached.body.upload.headers as Record<string, string>;
    expect((await fetch(attached.body.upload.url, { method: "PUT", headers, body: file })).status).toBe(200);
    expect((await client.post(`/v1/documents/${attached.body.id}/confirm`)).status).toBe(200);
    const read = await client.get<Record<string, any>>(`/v1/documents/${attached.body.id}`);
    const downloaded = await fetch(read.body.download.url);
    expect(Buffer.from(await downloaded.arrayBuffer()).equals(file)).toBe(true);
  });

  it("signs a new customer up: Tenant created as the API's ServiceAccount, link mailed, first quote", async () => {
    const api = platform.regions.primary.apiUrl;
    const email = `dispatch@platform-${Date.now().toString(36)}.com`;
    const signup = await fetch(`${api}/v1/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ company: `Platform Haulers ${email.slice(18, 26)}`, email, plan: "starter" }),
    });
    expect(signup.status).toBe(201);
    const body = (await signup.json()) as { tenant: { slug: string }; apiKey: { key: string } };
    const tenant = await platform.regions.primary.admin.get<Tenant>(tenants, body.tenant.slug, "tenants");
    expect(tenant.spec).toMatchObject({ plan: "starter", billingStatus: "trialing" });
    expect(tenant.metadata.labels?.["platform.freight.dev/origin"]).toBe("self-serve-signup");
    const link = await waitFor("the verification email", async () => {
      const mail = platform.mailbox.to(email)[0];
      return mail
        ? /https?:\/\/\S+\/v1\/signup\/verify\?token=ev_[\w-]+/.exec(mail.mail.text ?? "")?.[0]
        : undefined;
    });
    expect(link.startsWith(api)).toBe(true);
    expect((await fetch(link)).status).toBe(200);
    await waitFor("a first quote with the signup's key", async () => {
      const quote = await fetch(`${api}/v1/quotes`, {
        method: "POST",
        headers: { authorization: `Bearer ${body.apiKey.key}`, "content-type": "application/json" },
        body: JSON.stringify(quoteBody()),
      });
      return quote.status === 201;
    });
  });

  it("stores the stacks' NetworkPolicies in each region's control plane (nothing enforces them locally)", async () => {
    const networkPolicies = {
      group: "networking.k8s.io",
      version: "v1",
      plural: "networkpolicies",
      kind: "NetworkPolicy",
      namespaced: true,
    };
    for (const region of REGIONS) {
      const deny = await platform.regions[region].admin.get<{ spec: { policyTypes: string[] } }>(
        networkPolicies,
        "default-deny",
        "freight",
      );
      expect(deny.spec.policyTypes, region).toEqual(["Ingress", "Egress"]);
    }
  });

  it("serves the API contract and its reference page from both regions' APIs as deployed", async () => {
    for (const region of REGIONS) {
      const base = platform.regions[region].apiUrl;
      const contract = await fetch(`${base}/openapi.json`);
      expect(contract.status, region).toBe(200);
      const doc = (await contract.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toBe("3.1.0");
      // Billing is on as the stacks deploy it, so its routes are in the contract too.
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/quotes", "/webhooks/stripe"]));
      const reference = await fetch(`${base}/reference`);
      expect(reference.status, region).toBe(200);
      expect(await reference.text()).toContain("/v1/billing/checkout-sessions");
    }
  });

  it("redirects writes on the standby region to the active one (307)", async () => {
    const key = Object.values(platform.apiKeys)[0]!;
    const quote = (base: string) =>
      fetch(`${base}/v1/quotes`, {
        method: "POST",
        redirect: "manual",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(quoteBody()),
      });
    expect((await quote(platform.regions.primary.apiUrl)).status).toBe(201);
    const standby = await quote(platform.regions.secondary.apiUrl);
    expect(standby.status).toBe(307);
    expect(standby.headers.get("location")).toBe(`${platform.regions.primary.apiUrl}/v1/quotes`);
  });

  it("reconciles a Tenant with the operators the primary stack deploys", async () => {
    const admin = platform.regions.primary.admin;
    await applyAs(admin, plans, {
      kind: "Plan",
      metadata: { name: "local-test" },
      spec: {
        displayName: "Local test",
        // The demo seed's plans hold the low ranks; each Plan needs its own.
        rank: 42,
        monthlyPriceCents: 9900,
        meters: [{ name: "quotes", included: 10, overageAllowed: false, hardCeiling: 10 }],
        rateLimits: { requestsPerSecond: 5, burst: 10, bulkJobConcurrency: 1 },
      },
    });
    await applyAs(admin, tenants, {
      kind: "Tenant",
      metadata: { name: "local-test-freight", namespace: "tenants" },
      spec: { displayName: "Local Test Freight", plan: "local-test" },
    });
    const ready = await waitFor(
      "Tenant Ready",
      async () => {
        const tenant = await admin.get<Tenant>(tenants, "local-test-freight", "tenants");
        return tenant.status?.conditions?.find((c) => c.type === "Ready" && c.status === "True");
      },
      { timeoutMs: 30_000 },
    );
    expect(ready.reason).toBe("Applied");
  });

  it("publishes the spot PricingModel the active stack deploys: the engine's version prices everyone, in both regions' databases", async () => {
    const admin = platform.regions.primary.admin;
    const model = await waitFor(
      "PricingModel spot Stable",
      async () => {
        const pm = await admin.get<PricingModel>(pricingModels, SPOT_PRICING_MODEL, OPERATOR_NAMESPACE);
        return pm.status?.phase === "Stable" ? pm : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(model.status).toMatchObject({
      champion: PRICING.version,
      weights: { champion: 100, challenger: 0 },
    });
    for (const region of REGIONS) {
      const client = new pg.Client({ connectionString: platform.regions[region].databaseUrls.operator });
      await client.connect();
      try {
        const split = await waitFor(`${region}'s split row`, async () => {
          const { rows } = await client.query<{
            champion: { name: string };
            challenger_weight: string;
            spec_hash: string;
          }>("SELECT champion, challenger_weight, spec_hash FROM pricing_model_splits WHERE model = $1", [
            SPOT_PRICING_MODEL,
          ]);
          return rows[0];
        });
        expect(split.champion.name, region).toBe(PRICING.version);
        expect(Number(split.challenger_weight), region).toBe(0);
        expect(split.spec_hash, region).toBe(model.status?.lastAppliedHash);
      } finally {
        await client.end();
      }
    }
  });

  it("runs every process whose pod mounts a token as its ServiceAccount, refused what its RBAC does not grant; the others get no credential", async () => {
    const checked: string[] = [];
    const withoutToken: string[] = [];
    for (const region of REGIONS) {
      for (const p of platform.regions[region].processes) {
        const workload = platform.regions[region].workloads.find((w) => w.deployment === p.deployment)!;
        const path = p.env["KUBECONFIG"];
        if (!workload.mountsToken) {
          // automountServiceAccountToken: false in the pod: no API credential, locally as in the cluster.
          expect(path, `${region} ${p.deployment} has a kubeconfig its pod would not`).toBeUndefined();
          withoutToken.push(`${region}/${p.deployment}`);
          continue;
        }
        expect(path, `${region} ${p.deployment} has no kubeconfig`).toBeDefined();
        const config = new KubeConfig();
        config.loadFromFile(path!);
        const client = new KubeClient(config, { userAgent: "platform-test" });
        try {
          const review = await client.request<{ status: { userInfo: { username: string } } }>(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            { body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } },
          );
          expect(review.status.userInfo.username).toBe(
            `system:serviceaccount:${workload.namespace}:${workload.serviceAccount}`,
          );
          const secrets = await client
            .request("GET", `/api/v1/namespaces/${workload.namespace}/secrets`)
            .then(() => 200)
            .catch((error: unknown) => (error instanceof KubeApiError ? error.status : 0));
          expect(secrets, `${region} ${p.deployment} may list Secrets`).toBe(403);
          checked.push(`${region}/${p.deployment}`);
        } finally {
          client.close();
        }
      }
    }
    expect(checked).toEqual(expect.arrayContaining(["primary/freight-operators", "primary/quote-api"]));
    expect(withoutToken).toEqual(expect.arrayContaining(["primary/runner", "secondary/runner"]));
  });
});
