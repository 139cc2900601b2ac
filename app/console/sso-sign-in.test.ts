// Enterprise single sign-on into the console, in headless Chromium: the sign-in page's SSO form goes
// to the tenant's real OpenID Connect provider (oidc-provider on loopback, its client secret in
// Secrets Manager on moto, as app/sso/sso.test.ts sets them up) and the browser comes back into a
// console session, the same signed cookie and CSRF rules as a password sign-in, not onto JSON.
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startMoto, type MotoServer } from "../../tools/aws/moto.ts";
import { startIdentityProvider, type LocalIdentityProvider } from "../../tools/fakes/identity-provider.ts";
import { apiClient } from "../../tools/platform/api-client.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { CONSOLE_COOKIE, ConsoleSessions } from "./session.ts";
import { fixedSecret } from "../secret-file.ts";

vi.setConfig({ testTimeout: 120_000 });

const SECRET = "console-sso-test-secret-0123456789abcdefghijklmn";

let moto: MotoServer;
let secrets: SecretsManagerClient;
let idp: LocalIdentityProvider;
let t: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const acme = { slug: "", tenantId: "" };

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
      CONSOLE_SESSION_SECRET: SECRET,
    },
  });
  const tenant = await provisionTestTenant(t.db, "enterprise");
  Object.assign(acme, { slug: tenant.slug, tenantId: tenant.tenantId });
  const clientSecret = `secret-${tenant.slug}`;
  idp = await startIdentityProvider({
    clients: [{ clientId: `freight-${tenant.slug}`, clientSecret, redirectUris: [`${t.url}/sso/callback`] }],
    user: { id: "alice", email: `alice@${tenant.slug}.example` },
  });
  await secrets.send(
    new CreateSecretCommand({ Name: `freight/tenant-sso/${tenant.slug}`, SecretString: clientSecret }),
  );
  const registered = await apiClient(t.url, tenant.apiKey).call("PUT", "/v1/sso/provider", {
    issuer: idp.issuer,
    clientId: `freight-${tenant.slug}`,
    clientSecretRef: `freight/tenant-sso/${tenant.slug}`,
  });
  expect(registered.status).toBe(200);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  context = await browser.newContext({ baseURL: t.url });
  page = await context.newPage();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await idp?.stop();
  secrets?.destroy();
  await moto?.stop();
  vi.unstubAllEnvs();
});

describe("Enterprise SSO into the console", () => {
  it("signs in at the tenant's provider and lands in a console session, not on JSON", async () => {
    await page.goto("/sign-in");
    await page.fill("#tenant", acme.slug);
    const visited: string[] = [];
    // Every hop of the redirect chain is a navigation request of its own.
    page.on("request", (request) => {
      if (request.isNavigationRequest()) visited.push(request.url());
    });
    await Promise.all([
      page.waitForURL(`${t.url}/console`),
      page.click("button:has-text('Continue with SSO')"),
    ]);
    // The browser really went through the provider (its interaction pages) and back.
    expect(visited.some((url) => url.startsWith(`${idp.issuer}/interaction/`))).toBe(true);
    expect(visited.some((url) => url.startsWith(`${t.url}/sso/callback?`))).toBe(true);
    expect(await page.locator("h1").innerText()).toBe("Usage");
    expect(await page.locator("form.sign-out button").innerText()).toBe(`Sign out ${acme.slug}`);

    const cookie = (await context.cookies()).find((c) => c.name === CONSOLE_COOKIE)!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax" });
    const checked = new ConsoleSessions(fixedSecret(SECRET)).check(cookie.value);
    expect(checked.ok && checked.session).toMatchObject({
      tenantId: acme.tenantId,
      email: `alice@${acme.slug}.example`,
    });
  });

  it("holds the SSO session to the console's CSRF rules: the page's form works, a bare post changes nothing", async () => {
    await page.goto("/console/api-keys");
    const keys = () => page.locator("tbody tr").count();
    const before = await keys();
    const bare = await page.request.post("/console/api-keys", { form: { name: "no token" } });
    expect(bare.status()).toBe(403);
    expect(await bare.text()).toContain("Nothing was changed");
    await page.reload();
    expect(await keys()).toBe(before);

    await page.fill("#key-name", "from SSO");
    await Promise.all([page.waitForNavigation(), page.click("button:has-text('Create key')")]);
    expect(await page.locator("#new-key").innerText()).toMatch(/^fk_live_/);
  });

  it("still answers JSON to a client that asks for it", async () => {
    const start = await fetch(`${t.url}/sso/${acme.slug}/login`, { redirect: "manual" });
    const loginCookie = /freight_sso_login=([^;]+)/.exec(start.headers.get("set-cookie") ?? "")![1];
    const back = await idp.signIn(start.headers.get("location")!);
    const res = await fetch(back, {
      redirect: "manual",
      headers: { cookie: `freight_sso_login=${loginCookie}`, accept: "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenant: acme.slug, email: `alice@${acme.slug}.example` });
    expect(res.headers.get("set-cookie")).not.toContain(CONSOLE_COOKIE);
  });
});
