// Secrets read from mounted files, rotated the way the kubelet rotates them (a new timestamped
// directory and a `..data` symlink swap, tools/platform/secret-volume.ts): the running process's new
// database connections log in with the new password, Stripe calls carry the new key, the webhook is
// verified with the new signing secret and mail goes out with the new SMTP login. No restart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startLocalStripe, type LocalStripe } from "../tools/fakes/stripe-server.ts";
import { writeSecretVolume } from "../tools/platform/secret-volume.ts";
import { startTestDatabase, type TestDatabase } from "../tools/postgres/test-database.ts";
import { reconcileEnv } from "./billing/reconcile.ts";
import { createBilling } from "./billing/service.ts";
import { createStripeClient } from "./billing/stripe.ts";
import { appEnv } from "./config.ts";
import { createPool } from "./db/pool.ts";
import { secretValue } from "./env.ts";
import { createBillingMail } from "./runner/billing-notice.ts";
import { runnerEnv } from "./runner/config.ts";
import { secretFromFile } from "./secret-file.ts";

const dirs: string[] = [];
function volume(keys: Record<string, string>): { dir: string; paths: Record<string, string> } {
  const dir = mkdtempSync(path.join(tmpdir(), "secret-volume-"));
  dirs.push(dir);
  return { dir, paths: writeSecretVolume(dir, keys) };
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("a secret file", () => {
  it("follows the kubelet's ..data swaps and keeps the last good value while the file is gone", () => {
    const { dir, paths } = volume({ API_KEY: "first\n" });
    const secret = secretFromFile(paths["API_KEY"]!);
    expect(secret.read()).toBe("first");
    writeSecretVolume(dir, { API_KEY: "second" });
    expect(secret.read()).toBe("second");
    writeSecretVolume(dir, { API_KEY: "third" });
    expect(secret.read()).toBe("third");
    // The key dropped from the Secret (a broken sync): the process keeps using what it had.
    writeSecretVolume(dir, { OTHER: "x" });
    expect(secret.read()).toBe("third");
    writeSecretVolume(dir, { API_KEY: "fourth" });
    expect(secret.read()).toBe("fourth");
  });
});

describe("rotation without a restart", () => {
  let db: TestDatabase;
  let stripe: LocalStripe;

  beforeAll(async () => {
    [db, stripe] = await Promise.all([startTestDatabase({ seed: "none" }), startLocalStripe()]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([db?.stop(), stripe?.stop()]);
  });

  it("opens new database connections with the rotated password; open ones keep working", async () => {
    const { dir, paths } = volume({ DATABASE_URL: db.urls.runner });
    const config = runnerEnv.parse({ DATABASE_URL_FILE: paths["DATABASE_URL"] });
    const pool = createPool(secretValue(config, "DATABASE_URL")!, 4);
    const admin = new pg.Client({ connectionString: db.urls.superuser });
    await admin.connect();
    try {
      const before = await pool.connect();
      expect((await before.query<{ u: string }>("SELECT current_user AS u")).rows[0]!.u).toBe(
        "freight_runner",
      );

      // Secrets Manager rotates: the role's password changes, then the Secret (and its volume) follows.
      const rotated = new URL(db.urls.runner);
      rotated.password = "rotated-runner-password";
      await admin.query(`ALTER ROLE freight_runner PASSWORD 'rotated-runner-password'`);
      const stale = new pg.Client({ connectionString: db.urls.runner });
      await expect(stale.connect()).rejects.toThrow(/password authentication failed/);
      writeSecretVolume(dir, { DATABASE_URL: rotated.toString() });

      // The held connection is the old login's, still open; the next one is a new login.
      const after = await pool.connect();
      expect((await after.query<{ n: number }>("SELECT 1 AS n")).rows[0]!.n).toBe(1);
      expect((await before.query<{ n: number }>("SELECT 2 AS n")).rows[0]!.n).toBe(2);
      before.release();
      after.release();
    } finally {
      await pool.end();
      await admin.end();
    }
  });

  it("calls Stripe with the rotated key from the next call on", async () => {
    const { dir, paths } = volume({
      BILLING_DATABASE_URL: db.urls.billing,
      STRIPE_SECRET_KEY: "rk_test_before_rotation",
    });
    const config = reconcileEnv.parse({
      BILLING_DATABASE_URL_FILE: paths["BILLING_DATABASE_URL"],
      STRIPE_SECRET_KEY_FILE: paths["STRIPE_SECRET_KEY"],
      STRIPE_API_URL: stripe.url,
    });
    const client = createStripeClient(config);
    const keys = () =>
      stripe.requests.filter((r) => r.path === "/v1/prices").map((r) => r.headers.authorization);

    await client.prices.list();
    writeSecretVolume(dir, {
      BILLING_DATABASE_URL: db.urls.billing,
      STRIPE_SECRET_KEY: "rk_test_after_rotation",
    });
    await client.prices.list();
    expect(keys()).toEqual(["Bearer rk_test_before_rotation", "Bearer rk_test_after_rotation"]);
  });

  it("verifies Stripe webhooks with the rolled signing secret", async () => {
    const keys = {
      DATABASE_URL: db.urls.app,
      BILLING_DATABASE_URL: db.urls.billing,
      STRIPE_SECRET_KEY: "sk_test_webhooks",
      STRIPE_WEBHOOK_SECRET: "whsec_before",
    };
    const { dir, paths } = volume(keys);
    const config = appEnv.parse({
      BILLING: "on",
      DATABASE_URL_FILE: paths["DATABASE_URL"],
      BILLING_DATABASE_URL_FILE: paths["BILLING_DATABASE_URL"],
      STRIPE_SECRET_KEY_FILE: paths["STRIPE_SECRET_KEY"],
      STRIPE_WEBHOOK_SECRET_FILE: paths["STRIPE_WEBHOOK_SECRET"],
      STRIPE_API_URL: stripe.url,
      LOG_LEVEL: "silent",
    });
    const billing = createBilling(config);
    try {
      const payload = JSON.stringify({ id: "evt_rotation", object: "event", type: "ping" });
      const signed = (secret: string) =>
        billing.stripe.webhooks.generateTestHeaderString({ payload, secret });
      const verifies = (header: string) => {
        try {
          billing.stripe.webhooks.constructEvent(payload, header, billing.webhookSecret);
          return true;
        } catch {
          return false;
        }
      };
      expect(verifies(signed("whsec_before"))).toBe(true);
      writeSecretVolume(dir, { ...keys, STRIPE_WEBHOOK_SECRET: "whsec_after" });
      expect(verifies(signed("whsec_after"))).toBe(true);
      expect(verifies(signed("whsec_before"))).toBe(false);
    } finally {
      await billing.stop();
    }
  });

  it("sends mail with the rotated SMTP login", () => {
    const { dir, paths } = volume({ SMTP_URL: "smtps://first:one@smtp.example.com:465" });
    const config = runnerEnv.parse({
      DATABASE_URL: db.urls.runner,
      SMTP_URL_FILE: paths["SMTP_URL"],
      BILLING_EMAIL_FROM: "Freight Billing <billing@freight.example>",
    });
    const mail = createBillingMail(secretValue(config, "SMTP_URL")!, config.BILLING_EMAIL_FROM!);
    const login = () =>
      (mail.transport as unknown as { transporter: { options: { auth: unknown } } }).transporter.options.auth;
    expect(login()).toEqual({ user: "first", pass: "one" });
    writeSecretVolume(dir, { SMTP_URL: "smtps://second:two@smtp.example.com:465" });
    expect(login()).toEqual({ user: "second", pass: "two" });
    mail.transport.close();
  });
});
