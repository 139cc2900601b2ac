// Self-serve signup against the real control plane, with exactly the RBAC the stacks deploy (the
// generated signup Role bound to the quote API's ServiceAccount): a Tenant object per signup, a first
// key that works only after the emailed link is opened, and the bad inputs a new customer would fear.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crdsPath, rbacPath } from "../../operators/api/generate.ts";
import { signupRoleBinding, TENANTS_NAMESPACE } from "../../operators/api/rbac.ts";
import { tenants as tenantsRef } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { isNotFound, KubeClient } from "../../operators/runtime/kube.ts";
import { startCluster, type LocalCluster } from "../../tools/localcluster/fixture.ts";
import { applyManifest, waitFor } from "../../tools/platform/operators.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient } from "../../tools/platform/api-client.ts";
import { renderVerificationEmail } from "../runner/signup-verification.ts";
import { Mailbox } from "../../tools/platform/receivers.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";
import { startThrottlingProxy, type ThrottlingProxy } from "../../tools/platform/throttling-proxy.ts";
import { kubeconfigClient } from "../billing/tenant-resource.ts";
import { KubeTenantRegistrar, SIGNUP_ID_ANNOTATION } from "../signup/tenant-registrar.ts";

const API_ACCOUNT = { namespace: "freight", name: "quote-api" };
const rolebindings = {
  group: "rbac.authorization.k8s.io",
  version: "v1",
  plural: "rolebindings",
  kind: "RoleBinding",
  namespaced: true,
};

let cluster: LocalCluster;
let admin: KubeClient;
let t: TestApp;
let anonymous: ReturnType<typeof apiClient>;
let ops: pg.Client;
let owner: pg.Client;

beforeAll(async () => {
  cluster = await startCluster({ name: "signup" });
  admin = new KubeClient(cluster.kubeConfig, { userAgent: "signup-test" });
  await applyManifest(admin, crdsPath);
  await applyManifest(admin, rbacPath);
  await waitFor("the Tenant CRD served", async () => {
    await admin.list(tenantsRef, { namespace: TENANTS_NAMESPACE });
    return true;
  });
  await admin.apply(rolebindings, signupRoleBinding(API_ACCOUNT), { fieldManager: "pulumi-kubernetes" });
  const credentials = await cluster.serviceAccountKubeconfig(API_ACCOUNT.namespace, API_ACCOUNT.name);
  t = await startTestApp({
    env: { KUBECONFIG: credentials.kubeconfigPath, PUBLIC_BASE_URL: "https://api.freight.example" },
  });
  anonymous = apiClient(t.url);
  ops = new pg.Client({ connectionString: t.db.urls.ops });
  // The superuser in the app's database: ageing a link by hand goes past row-level security.
  const superuser = new URL(t.db.urls.superuser);
  superuser.pathname = new URL(t.db.urls.owner).pathname;
  owner = new pg.Client({ connectionString: superuser.toString() });
  await ops.connect();
  await owner.connect();
}, 180_000);

afterAll(async () => {
  await ops?.end();
  await owner?.end();
  await t?.stop();
  admin?.close();
  await cluster?.stop();
});

type Body = Record<string, any>;
let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

async function tenantObject(slug: string): Promise<Tenant | undefined> {
  try {
    return await admin.get<Tenant>(tenantsRef, slug, TENANTS_NAMESPACE);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The link the runner mails, as queued for it (the email itself is rendered from this payload). */
async function verificationLink(tenantId: string): Promise<string> {
  const { rows } = await ops.query(
    `SELECT payload FROM agent_tasks WHERE tenant_id = $1 AND kind = 'signup_verification'
      ORDER BY created_at DESC LIMIT 1`,
    [tenantId],
  );
  return rows[0].payload.verifyUrl;
}

const localPath = (link: string) => link.replace("https://api.freight.example", "");

describe("POST /v1/signup", () => {
  it("creates a trialing tenant on the control plane and a key that works once the email is verified", async () => {
    const id = unique();
    const res = await anonymous.post<Body>("/v1/signup", {
      company: `Bayou Haulers ${id}`,
      email: `Dispatch@Bayou-${id}.com`,
      plan: "pro",
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { tenant, apiKey, emailVerification } = res.body;
    expect(tenant).toMatchObject({ slug: `bayou-haulers-${id}`, plan: "pro", billingStatus: "trialing" });
    const trialDays = (Date.parse(tenant.trialEndsAt) - Date.now()) / 86_400_000;
    expect(trialDays).toBeGreaterThan(13.9);
    expect(trialDays).toBeLessThanOrEqual(14);
    expect(apiKey.key).toMatch(/^fk_live_/);
    expect(apiKey).toMatchObject({ status: "awaiting_verification", scopes: ["read", "quote", "admin"] });
    expect(emailVerification.sentTo).toBe(`dispatch@bayou-${id}.com`);

    const object = await tenantObject(tenant.slug);
    expect(object?.spec).toMatchObject({
      plan: "pro",
      billingStatus: "trialing",
      displayName: `Bayou Haulers ${id}`,
    });

    const client = apiClient(t.url, apiKey.key);
    const early = await client.get<Body>("/v1/usage");
    expect(early.status).toBe(403);
    expect(early.body.type).toMatch(/\/email-not-verified$/);

    const link = await verificationLink(tenant.id);
    expect(link).toMatch(/^https:\/\/api\.freight\.example\/v1\/signup\/verify\?token=ev_/);
    const email = renderVerificationEmail(
      (await ops.query("SELECT payload FROM agent_tasks WHERE tenant_id = $1", [tenant.id])).rows[0].payload,
      { name: tenant.name, slug: tenant.slug },
    );
    expect(email.text).toContain(link);

    const verified = await anonymous.get<Body>(localPath(link));
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ verified: true, tenant: tenant.slug });
    expect((await client.get("/v1/usage")).status).toBe(200);

    const reused = await anonymous.get<Body>(localPath(link));
    expect(reused.status).toBe(410);
    expect(reused.body.type).toMatch(/\/verification-link-used$/);
  });

  it("refuses a duplicate email or company with 409 and creates nothing twice, even when sent at once", async () => {
    const id = unique();
    const email = `ops@fleet-${id}.com`;
    const attempts = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        anonymous.post<Body>("/v1/signup", { company: `Fleet ${id} ${i}`, email, plan: "starter" }),
      ),
    );
    expect(attempts.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const refused of attempts.filter((a) => a.status === 409))
      expect(refused.body.type).toMatch(/\/signup-email-taken$/);
    const objects = await Promise.all([0, 1, 2, 3, 4].map((i) => tenantObject(`fleet-${id}-${i}`)));
    expect(objects.filter(Boolean)).toHaveLength(1);
    const { rows } = await ops.query("SELECT count(*)::int AS n FROM tenants WHERE slug LIKE $1", [
      `fleet-${id}-%`,
    ]);
    expect(rows[0].n).toBe(1);

    const sameCompany = await Promise.all(
      [0, 1, 2].map((i) =>
        anonymous.post<Body>("/v1/signup", {
          company: `Cargo ${id}!`,
          email: `c${i}@cargo-${id}.com`,
          plan: "starter",
        }),
      ),
    );
    expect(sameCompany.map((a) => a.status).sort()).toEqual([201, 409, 409]);
    expect(sameCompany.find((a) => a.status === 409)!.body.type).toMatch(/\/signup-company-taken$/);
    const { rows: keys } = await ops.query(
      "SELECT count(*)::int AS n FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = $1",
      [`cargo-${id}`],
    );
    expect(keys[0].n).toBe(1);

    // A company name that slugs to an existing tenant's is the same company.
    const seeded = await anonymous.post<Body>("/v1/signup", {
      company: "ACME Logistics",
      email: `x@acme-${id}.com`,
      plan: "starter",
    });
    expect(seeded.status).toBe(409);
  });

  it("refuses a company whose Tenant exists on the control plane only, and leaves nothing behind", async () => {
    const id = unique();
    await admin.create(
      tenantsRef,
      {
        apiVersion: "platform.freight.dev/v1alpha1",
        kind: "Tenant",
        metadata: { name: `initech-${id}`, namespace: TENANTS_NAMESPACE },
        spec: { plan: "enterprise" },
      } as Tenant,
      TENANTS_NAMESPACE,
    );
    const email = `bill@initech-${id}.com`;
    const res = await anonymous.post<Body>("/v1/signup", {
      company: `Initech ${id}`,
      email,
      plan: "starter",
    });
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/signup-company-taken$/);
    expect((await tenantObject(`initech-${id}`))?.spec.plan).toBe("enterprise");
    const { rows } = await ops.query("SELECT count(*)::int AS n FROM signups WHERE email = $1", [email]);
    expect(rows[0].n).toBe(0);
    // The address is free again for a signup under another name.
    const retry = await anonymous.post<Body>("/v1/signup", {
      company: `Initech Labs ${id}`,
      email,
      plan: "starter",
    });
    expect(retry.status).toBe(201);
  });

  it("refuses malformed and disposable emails, unknown plans and unusable company names", async () => {
    const id = unique();
    const cases: [Body, string, RegExp][] = [
      [{ company: `A ${id}`, email: "not-an-email", plan: "starter" }, "email", /one email address/],
      [
        { company: `B ${id}`, email: "ann@localhost", plan: "starter" },
        "email",
        /one email address|top-level/,
      ],
      [{ company: `C ${id}`, email: "ann@mailinator.com", plan: "starter" }, "email", /disposable/],
      [{ company: `D ${id}`, email: "ann@eu.yopmail.com", plan: "starter" }, "email", /disposable/],
      [
        { company: `E ${id}`, email: `ann@e-${id}.com`, plan: "platinum" },
        "plan",
        /must be one of .*starter/,
      ],
      [{ company: "!!", email: `ann@f-${id}.com`, plan: "starter" }, "company", /letters or digits/],
      [{ company: `G ${id}`, plan: "starter" }, "email", /email address/],
    ];
    for (const [body, field, message] of cases) {
      const res = await anonymous.post<Body>("/v1/signup", body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.headers.get("content-type")).toMatch(/problem\+json/);
      const error = res.body.errors.find((e: Body) => e.field === field);
      expect(error?.message, JSON.stringify(res.body)).toMatch(message);
    }
    const { rows } = await ops.query("SELECT count(*)::int AS n FROM signups WHERE email LIKE $1", [
      `%${id}%`,
    ]);
    expect(rows[0].n).toBe(0);
  });
});

describe("the verification email", () => {
  it("is mailed by the runner, and opening its link makes the signup's key work", async () => {
    const mailbox = new Mailbox();
    await mailbox.start();
    const id = unique();
    const refused = `nobody@gone-${id}.com`;
    mailbox.answer = (recipient) => (recipient === refused ? 550 : 250);
    const runner = await startTestRunner(t.db.urls.runner, {
      SMTP_URL: mailbox.url,
      BILLING_EMAIL_FROM: "Freight <hello@freight.example>",
    });
    try {
      const email = `dispatch@mailed-${id}.com`;
      const res = await anonymous.post<Body>("/v1/signup", {
        company: `Mailed ${id}`,
        email,
        plan: "starter",
      });
      expect(res.status).toBe(201);
      const [mail] = await until(
        `the verification email to ${email}`,
        async () => mailbox.to(email),
        (m) => m.length > 0,
      );
      expect(mail!.mail.subject).toMatch(/confirm your email/i);
      const link = /https:\/\/\S+\/v1\/signup\/verify\?token=ev_[\w-]+/.exec(mail!.mail.text ?? "")![0];
      expect((await apiClient(t.url, res.body.apiKey.key).get("/v1/usage")).status).toBe(403);
      expect((await anonymous.get(localPath(link))).status).toBe(200);
      expect((await apiClient(t.url, res.body.apiKey.key).get("/v1/usage")).status).toBe(200);

      // A mailbox that refuses for good fails the task at once instead of retrying it.
      const bounced = await anonymous.post<Body>("/v1/signup", {
        company: `Gone ${id}`,
        email: refused,
        plan: "starter",
      });
      const [task] = await until(
        "the refused verification email's task to fail",
        async () =>
          (
            await ops.query("SELECT status, attempts, last_error FROM agent_tasks WHERE tenant_id = $1", [
              bounced.body.tenant.id,
            ])
          ).rows,
        (rows) => rows[0]?.status === "failed",
      );
      expect(task).toMatchObject({ status: "failed", attempts: 1 });
      expect(task.last_error).toMatch(/refused the verification email for good/);
      expect(task.last_error).not.toMatch(/ev_/);
    } finally {
      await runner.stop();
      await mailbox.stop();
    }
  });
});

describe("email verification links", () => {
  it("refuses expired, unknown and malformed links, and a new email's link works", async () => {
    const id = unique();
    const email = `it@late-${id}.com`;
    const res = await anonymous.post<Body>("/v1/signup", { company: `Late ${id}`, email, plan: "starter" });
    const tenantId = res.body.tenant.id;
    const first = await verificationLink(tenantId);
    await owner.query(
      "UPDATE email_verifications SET expires_at = now() - interval '1 minute' WHERE tenant_id = $1",
      [tenantId],
    );
    const expired = await anonymous.get<Body>(localPath(first));
    expect(expired.status).toBe(410);
    expect(expired.body.type).toMatch(/\/verification-link-expired$/);
    expect(expired.body.detail).toMatch(/verification-email/);

    const unknown = await anonymous.get<Body>(`/v1/signup/verify?token=ev_${"A".repeat(43)}`);
    expect(unknown.status).toBe(404);
    const malformed = await anonymous.get<Body>("/v1/signup/verify?token=hello");
    expect(malformed.status).toBe(422);

    const resent = await anonymous.post<Body>("/v1/signup/verification-email", {
      email: email.toUpperCase(),
    });
    expect(resent.status).toBe(202);
    const second = await verificationLink(tenantId);
    expect(second).not.toBe(first);
    expect((await anonymous.get(localPath(second))).status).toBe(200);
    expect((await apiClient(t.url, res.body.apiKey.key).get("/v1/usage")).status).toBe(200);

    const again = await anonymous.post<Body>("/v1/signup/verification-email", { email });
    expect(again.status).toBe(409);
    const nobody = await anonymous.post<Body>("/v1/signup/verification-email", {
      email: `nobody@x-${id}.com`,
    });
    expect(nobody.status).toBe(404);
  });
});

describe("creating the Tenant while the control plane misbehaves", () => {
  let proxy: ThrottlingProxy;
  let registrar: KubeTenantRegistrar;
  const spec = { displayName: "Gulf Coast Drayage", plan: "starter" };
  const signupIdOf = async (slug: string) =>
    (await tenantObject(slug))?.metadata.annotations?.[SIGNUP_ID_ANNOTATION];

  beforeAll(async () => {
    proxy = await startThrottlingProxy(cluster);
    registrar = new KubeTenantRegistrar(
      kubeconfigClient(proxy.kubeconfigPath, "signup-test"),
      TENANTS_NAMESPACE,
      { retryForMs: 4_000 },
    );
  });
  afterAll(async () => {
    registrar?.close();
    await proxy?.stop();
  });

  it("takes a lost answer's retry for the signup's own Tenant, and a real duplicate for one", async () => {
    const slug = `gulf-coast-${unique()}`;
    proxy.loseNextWriteAnswers = 1;
    const forwarded = proxy.stats.forwarded;
    expect(await registrar.register(slug, spec, "signup-1")).toBe("created");
    // Sent twice: the first create was applied but its answer lost; the retry met the Tenant.
    expect(proxy.stats.forwarded - forwarded).toBeGreaterThanOrEqual(3); // create, create (409), get
    expect(await signupIdOf(slug)).toBe("signup-1");

    // Another signup for the same name, its first answer lost too: a duplicate, and nothing changed.
    proxy.loseNextWriteAnswers = 1;
    expect(await registrar.register(slug, spec, "signup-2")).toBe("exists");
    expect(await signupIdOf(slug)).toBe("signup-1");
    // Answered at once: a plain duplicate, no read needed.
    expect(await registrar.register(slug, spec, "signup-3")).toBe("exists");
  });

  it("waits out a restarting API server, and gives up with the server's error after its budget", async () => {
    const slug = `bayou-restart-${unique()}`;
    const outage = proxy.outage(1_500);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    expect(await registrar.register(slug, spec, "signup-restart")).toBe("created");
    await outage;
    expect(Date.now() - started).toBeGreaterThan(1_000);
    expect(await signupIdOf(slug)).toBe("signup-restart");

    const gone = proxy.outage(6_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = Date.now();
    await expect(registrar.register(`never-${unique()}`, spec, "signup-gone")).rejects.toThrow(
      /ECONNREFUSED|connect/,
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(4_000);
    await gone;
  }, 30_000);

  it("answers 503 with Retry-After when the control plane stays away, and creates nothing", async () => {
    const app = await startTestApp({ db: t.db, env: { KUBECONFIG: proxy.kubeconfigPath } });
    const outage = proxy.outage(10_000);
    try {
      const id = unique();
      const res = await apiClient(app.url).post<Body>("/v1/signup", {
        company: `Unreachable Freight ${id}`,
        email: `ops@unreachable-${id}.com`,
        plan: "starter",
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("30");
      expect(res.body).toMatchObject({ type: expect.stringMatching(/\/signup-unavailable$/) });
      expect(res.body.detail).toMatch(/nothing was created/);
      const { rows } = await ops.query("SELECT count(*)::int AS n FROM tenants WHERE slug = $1", [
        `unreachable-freight-${id}`,
      ]);
      expect(rows[0].n).toBe(0);
    } finally {
      await outage;
      await app.stop();
    }
  }, 30_000);

  it("lets the quote API's ServiceAccount create and read Tenants, and nothing more", async () => {
    const credentials = await cluster.serviceAccountKubeconfig(API_ACCOUNT.namespace, API_ACCOUNT.name);
    const asApi = kubeconfigClient(credentials.kubeconfigPath, "signup-test");
    try {
      const slug = `rbac-check-${unique()}`;
      expect(await new KubeTenantRegistrar(asApi, TENANTS_NAMESPACE).register(slug, spec, "s-rbac")).toBe(
        "created",
      );
      expect((await asApi.get<Tenant>(tenantsRef, slug, TENANTS_NAMESPACE)).metadata.name).toBe(slug);
      await expect(asApi.list(tenantsRef, { namespace: TENANTS_NAMESPACE })).rejects.toThrow(/403/);
      await expect(asApi.delete(tenantsRef, slug, TENANTS_NAMESPACE)).rejects.toThrow(/403/);
    } finally {
      asApi.close();
    }
  });
});
