// Enterprise SSO end to end: the real app, a real OpenID Connect provider per tenant (oidc-provider
// on loopback), the tenants' client secrets in Secrets Manager (moto, signatures checked), read by the real SDK.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPool, withTenant } from "../db/pool.ts";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { startMoto, type MotoServer } from "../../tools/aws/moto.ts";
import { startIdentityProvider, type LocalIdentityProvider } from "../../tools/fakes/identity-provider.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { fulfilRequest } from "../compliance/dsr/fulfil.ts";

let t: TestApp;
let moto: MotoServer;
let secrets: SecretsManagerClient;
let appDb: pg.Pool;
const idps: LocalIdentityProvider[] = [];

interface SsoTenant {
  slug: string;
  tenantId: string;
  admin: ReturnType<typeof apiClient>;
  idp: LocalIdentityProvider;
}
let acme: SsoTenant;
let globex: SsoTenant;

/** An Enterprise tenant with its own identity provider, registered through the API. */
async function ssoTenant(user: string): Promise<SsoTenant> {
  const tenant = await provisionTestTenant(t.db, "enterprise");
  const clientSecret = `secret-${tenant.slug}`;
  const idp = await startIdentityProvider({
    clients: [{ clientId: `freight-${tenant.slug}`, clientSecret, redirectUris: [`${t.url}/sso/callback`] }],
    user: { id: user, email: `${user}@${tenant.slug}.example` },
  });
  idps.push(idp);
  await secrets.send(
    new CreateSecretCommand({ Name: `freight/tenant-sso/${tenant.slug}`, SecretString: clientSecret }),
  );
  const admin = apiClient(t.url, tenant.apiKey);
  const registered = await admin.call<Record<string, any>>("PUT", "/v1/sso/provider", {
    issuer: idp.issuer,
    clientId: `freight-${tenant.slug}`,
    clientSecretRef: `freight/tenant-sso/${tenant.slug}`,
  });
  expect(registered.status).toBe(200);
  expect(registered.body.loginUrl).toBe(`${t.url}/sso/${tenant.slug}/login`);
  return { slug: tenant.slug, tenantId: tenant.tenantId, admin, idp };
}

/** The browser's sign-in cookie, set when the login starts, keyed by the login's state. */
const loginCookies = new Map<string, string>();

/** Starts a login; returns the provider's authorization URL the app redirected to. */
async function startLogin(slug: string): Promise<URL> {
  const res = await fetch(`${t.url}/sso/${slug}/login`, { redirect: "manual" });
  expect(res.status).toBe(302);
  const url = new URL(res.headers.get("location") as string);
  const cookie = /freight_sso_login=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1] as string;
  expect(res.headers.get("set-cookie")).toMatch(/HttpOnly; Secure; SameSite=Lax/);
  loginCookies.set(url.searchParams.get("state") as string, cookie);
  return url;
}

/** Visits a callback URL from the browser that started the sign-in (its cookie), or `asBrowserOf`'s. */
async function callback(url: URL | string, asBrowserOf?: string) {
  const state = asBrowserOf ?? new URL(url).searchParams.get("state") ?? "";
  const cookie = loginCookies.get(state);
  const res = await fetch(url, {
    redirect: "manual",
    headers: cookie ? { cookie: `freight_sso_login=${cookie}` } : {},
  });
  const body = (await res.json()) as Record<string, any>;
  return { status: res.status, headers: res.headers, body };
}

function sessionOf(headers: Headers): string {
  const cookie = headers.get("set-cookie") ?? "";
  return /freight_session=([^;]+)/.exec(cookie)?.[1] as string;
}

const withSession = (session: string) => ({ cookie: `freight_session=${session}` });

beforeAll(async () => {
  moto = await startMoto();
  vi.stubEnv("AWS_ACCESS_KEY_ID", moto.credentials.accessKeyId);
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", moto.credentials.secretAccessKey);
  secrets = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: moto.credentials,
  });
  t = await startTestApp({
    env: {
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
      SSO_SESSION_MINUTES: "15",
    },
  });
  appDb = createPool(t.db.urls.app, 2);
  acme = await ssoTenant("alice");
  globex = await ssoTenant("bob");
});
afterAll(async () => {
  await appDb?.end();
  await t?.stop();
  await Promise.all(idps.map((idp) => idp.stop()));
  secrets?.destroy();
  await moto?.stop();
  vi.unstubAllEnvs();
});

describe("enterprise SSO", () => {
  it("signs a tenant user in with code + PKCE + state + nonce and issues a short-lived, http-only, secure session", async () => {
    const authorization = await startLogin(acme.slug);
    expect(authorization.origin).toBe(acme.idp.issuer);
    expect(authorization.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorization.searchParams.get("state")).toBeTruthy();
    expect(authorization.searchParams.get("nonce")).toBeTruthy();
    expect(authorization.searchParams.get("client_id")).toBe(`freight-${acme.slug}`);

    const back = await acme.idp.signIn(authorization.href);
    expect(`${back.origin}${back.pathname}`).toBe(`${t.url}/sso/callback`);
    const signedIn = await callback(back);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({
      tenant: acme.slug,
      subject: "alice",
      email: `alice@${acme.slug}.example`,
    });
    const cookie = signedIn.headers.get("set-cookie") as string;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Max-Age=900/);
    const minutes = (Date.parse(signedIn.body.expiresAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(14);
    expect(minutes).toBeLessThanOrEqual(15);

    // The session reads the tenant's own data, and only reads.
    const session = sessionOf(signedIn.headers);
    const usage = await apiClient(t.url).get<Record<string, any>>("/v1/usage", withSession(session));
    expect(usage.status).toBe(200);
    const write = await apiClient(t.url).post<Record<string, any>>(
      "/v1/quotes",
      quoteBody(),
      withSession(session),
    );
    expect(write.status).toBe(403);
    expect(write.body.type).toMatch(/\/session-read-only$/);
  });

  it("refuses a wrong state, a replayed code and a code from another tenant's provider", async () => {
    loginCookies.set("forged", "forged");
    const unknown = await callback(`${t.url}/sso/callback?state=forged&code=whatever`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.type).toMatch(/\/sso-invalid-state$/);

    // Login CSRF: another browser's finished sign-in, opened in a browser that did not start it.
    const victim = await startLogin(acme.slug);
    const attackers = await acme.idp.signIn((await startLogin(acme.slug)).href);
    const planted = await callback(attackers, victim.searchParams.get("state") as string);
    expect(planted.status).toBe(400);
    expect(planted.body.type).toMatch(/\/sso-state-mismatch$/);
    expect(planted.headers.get("set-cookie")).toBeNull();

    const back = await acme.idp.signIn((await startLogin(acme.slug)).href);
    expect((await callback(back)).status).toBe(200);
    const replay = await callback(back);
    expect(replay.status).toBe(409);
    expect(replay.body.type).toMatch(/\/sso-login-used$/);

    // globex's code carried on an acme sign-in: acme's provider never issued it.
    const acmeLogin = await startLogin(acme.slug);
    const globexBack = await globex.idp.signIn((await startLogin(globex.slug)).href);
    const crossed = new URL(globexBack);
    crossed.searchParams.set("state", acmeLogin.searchParams.get("state") as string);
    const mixed = await callback(crossed);
    expect(mixed.status).toBe(401);
    expect(mixed.body.type).toMatch(/\/sso-token-rejected$/);
    expect(mixed.headers.get("set-cookie")).toBeNull();
    // globex's own sign-in still works: nothing of it was used up.
    const own = await callback(globexBack);
    expect(own.status).toBe(200);
    expect(own.body.tenant).toBe(globex.slug);
  });

  it("ends sessions: logout, revoke-all with an API key, and expiry each answer 401", async () => {
    const signIn = async () =>
      sessionOf((await callback(await acme.idp.signIn((await startLogin(acme.slug)).href))).headers);
    const read = (session: string) =>
      apiClient(t.url).get<Record<string, any>>("/v1/usage", withSession(session));

    const loggedOut = await signIn();
    expect((await read(loggedOut)).status).toBe(200);
    const logout = await fetch(`${t.url}/sso/logout`, { method: "POST", headers: withSession(loggedOut) });
    expect(logout.status).toBe(204);
    expect((await read(loggedOut)).status).toBe(401);

    const revoked = await signIn();
    const revoke = await acme.admin.post<Record<string, any>>("/v1/sso/sessions/revoke", {});
    expect(revoke.status).toBe(200);
    expect(revoke.body.revoked).toBeGreaterThanOrEqual(1);
    expect((await read(revoked)).status).toBe(401);

    const expiring = await signIn();
    await withTenant(appDb, acme.tenantId, (db) =>
      db.query("UPDATE sso_sessions SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL"),
    );
    const expired = await read(expiring);
    expect(expired.status).toBe(401);
    expect(expired.body.type).toMatch(/\/session-expired$/);
    expect(expired.body.detail).toMatch(/Sign in again/);
  });

  it("does not sign in again a user erased on request: a 409 problem, and no session recorded", async () => {
    const carol = await ssoTenant("carol");
    const signIn = async () => callback(await carol.idp.signIn((await startLogin(carol.slug)).href));
    expect((await signIn()).status).toBe(200);
    // Erased as the runner erases (the dsr_fulfil task's own function, as the runner's role).
    const filed = await carol.admin.post<Record<string, any>>("/v1/data-requests", {
      kind: "erasure",
      subject: { id: "carol" },
    });
    expect(filed.status).toBe(201);
    await carol.admin.post(`/v1/data-requests/${filed.body.id}/verification`, {
      verifiedBy: "support",
      method: "email link",
    });
    const runnerDb = createPool(t.db.urls.runner, 1);
    try {
      await fulfilRequest({ pool: runnerDb, actor: "test" }, carol.tenantId, filed.body.id);
    } finally {
      await runnerDb.end();
    }

    const again = await signIn();
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/\/subject-erased-not-reimported$/);
    expect(again.body.dataRequestId).toBe(filed.body.id);
    expect(again.body.detail).toMatch(/not recorded again/);
    expect(again.headers.get("set-cookie") ?? "").not.toMatch(/freight_session=/);
    const sessions = await withTenant(appDb, carol.tenantId, (db) =>
      db.query("SELECT 1 FROM sso_sessions WHERE subject = 'carol'"),
    );
    expect(sessions.rows).toHaveLength(0);
  });

  it("refuses a tenant whose plan lacks SSO, and bad provider settings", async () => {
    const pro = await provisionTestTenant(t.db, "pro");
    const login = await fetch(`${t.url}/sso/${pro.slug}/login`, { redirect: "manual" });
    expect(login.status).toBe(403);
    const problem = (await login.json()) as Record<string, any>;
    expect(problem).toMatchObject({ feature: "sso", plan: "pro", requiredPlan: "enterprise" });
    const register = await apiClient(t.url, pro.apiKey).call<Record<string, any>>("PUT", "/v1/sso/provider", {
      issuer: acme.idp.issuer,
      clientId: "x",
      clientSecretRef: "freight/tenant-sso/x",
    });
    expect(register.status).toBe(403);

    const bad = await acme.admin.call<Record<string, any>>("PUT", "/v1/sso/provider", {
      issuer: "http://idp.example.com/",
      clientId: "freight",
      clientSecretRef: "freight/api-database-url",
      clientSecret: "s3cret",
    });
    expect(bad.status).toBe(422);
    const fields = bad.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(["(body)", "clientSecretRef", "issuer"]);
    // The provider registered before is untouched.
    expect((await acme.admin.get<Record<string, any>>("/v1/sso/provider")).body.issuer).toBe(acme.idp.issuer);

    const missingSecret = await provisionTestTenant(t.db, "enterprise");
    const admin = apiClient(t.url, missingSecret.apiKey);
    await admin.call("PUT", "/v1/sso/provider", {
      issuer: acme.idp.issuer,
      clientId: "freight",
      clientSecretRef: `freight/tenant-sso/${missingSecret.slug}`,
    });
    const unreadable = await fetch(`${t.url}/sso/${missingSecret.slug}/login`, { redirect: "manual" });
    expect(unreadable.status).toBe(502);
    expect(((await unreadable.json()) as Record<string, any>).detail).toContain(
      `freight/tenant-sso/${missingSecret.slug}`,
    );
    const none = await fetch(`${t.url}/sso/no-such-tenant/login`, { redirect: "manual" });
    expect(none.status).toBe(404);
  });
});
