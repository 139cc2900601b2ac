// Both region stacks planned with billing switched on (its Stripe secrets are stack secrets the
// committed stack files cannot hold unencrypted, so they come in as config here), then read the
// way a platform engineer would: billing's schedules, secrets and RBAC are wired; the policy pack
// stays clean.
import { beforeAll, describe, expect, it } from "vitest";

import { DATABASE_LOGINS } from "../infra/secrets/secrets.ts";
import { checkStack } from "../policies/offline.ts";
import { rules } from "../policies/pack.ts";
import type { PlannedStack } from "./plan.ts";
import { planStack } from "./plan.ts";
import { all, envOf, get, one, rotationDays } from "./plan-queries.ts";
import { mountsServiceAccountToken, type PodSpec } from "./workload-env.ts";

const PLAN_TIMEOUT = 120_000;
const STRIPE = {
  stripeSecretKey: "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
  stripeWebhookSecret: "whsec_plannedsecret",
};
const secretArn = (name: string) =>
  `arn:aws:secretsmanager:us-east-1:123456789012:secret:freight/${name}-Ab12Cd`;

let primary: PlannedStack;
let secondary: PlannedStack;

beforeAll(async () => {
  [primary, secondary] = await Promise.all([
    planStack("prod-primary", { config: { billing: "on", ...STRIPE } }),
    planStack("prod-secondary", {
      config: { billing: "on" },
      peerOutputs: {
        primaryDbArn: "arn:aws:rds:us-east-1:123456789012:db:freight-us-east-1-primary",
        primaryDbIdentifier: "freight-us-east-1-primary",
        primaryDbFenceSecurityGroupId: "sg-0f3e1ce5ec0e00001",
        healthCheckId: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
        primaryDbAddress: "freight-us-east-1-primary.cab12cd34ef.us-east-1.rds.amazonaws.com",
        databaseServiceRoleSecretArn: secretArn("database-service-role"),
        databaseOperatorRoleSecretArn: secretArn("database-operator-role"),
        databaseRunnerRoleSecretArn: secretArn("database-runner-role"),
        databaseOwnerRoleSecretArn: secretArn("database-owner-role"),
        databaseOpsRoleSecretArn: secretArn("database-ops-role"),
        llmProviderApiKeySecretArn: secretArn("llm-provider-api-key"),
        workflowAutomationApiKeySecretArn: secretArn("workflow-automation-api-key"),
        opsWebhookUrlSecretArn: secretArn("ops-webhook-url"),
        alertReceiverTokenSecretArn: secretArn("alert-receiver-token"),
        crmWebhookUrlSecretArn: secretArn("crm-webhook-url"),
        crmWebhookSecretSecretArn: secretArn("crm-webhook-secret"),
        consoleSessionSecretSecretArn: secretArn("console-session-secret"),
        stripeSecretKeySecretArn: secretArn("stripe-secret-key"),
        stripeWebhookSecretSecretArn: secretArn("stripe-webhook-secret"),
        databaseBillingRoleSecretArn: secretArn("database-billing-role"),
        billingSmtpUrlSecretArn: secretArn("billing-smtp-url"),
      },
    }),
  ]);
}, PLAN_TIMEOUT);

const stacks = () => [primary, secondary];

const deployment = (plan: PlannedStack, name: string) => one(plan, "kubernetes:apps/v1:Deployment", name);

describe("ServiceAccount tokens with billing on", () => {
  it("mount in the API (its Tenant writes), the operators, the active region's trial expiry, evidence and pricing backtest jobs, and nowhere else", () => {
    for (const plan of stacks()) {
      const pods = [
        ...all(plan, "kubernetes:apps/v1:Deployment").map((d) => ({
          name: d.name,
          spec: get(d.props, "spec", "template", "spec") as Record<string, unknown>,
        })),
        ...all(plan, "kubernetes:batch/v1:CronJob").map((c) => ({
          name: c.name,
          spec: get(c.props, "spec", "jobTemplate", "spec", "template", "spec") as Record<string, unknown>,
        })),
      ];
      const mounting = pods
        .filter((p) => mountsServiceAccountToken(p.spec as unknown as PodSpec))
        .map((p) => p.name);
      // Trial expiry writes Tenants like billing does; the evidence job reads RBAC bindings; the
      // backtest reads PricingModels; all run where the scheduled work runs (the primary).
      expect(mounting.sort()).toEqual(
        plan === primary
          ? [
              "operators",
              "quote-api",
              "scheduled-jobs-evidence",
              "scheduled-jobs-pricing-backtest",
              "scheduled-jobs-trial-expiry",
            ]
          : ["operators", "quote-api"],
      );
    }
  });
});

// Each container's environment against its process's own loader: stacks/contract.test.ts, on the
// same production configuration.

describe("scheduled billing reconciliation", () => {
  it("runs daily for the month so far and monthly for the month that closed, as freight_billing with the Stripe key", () => {
    const daily = one(primary, "kubernetes:batch/v1:CronJob", "scheduled-jobs-billing-reconcile-daily");
    const monthly = one(primary, "kubernetes:batch/v1:CronJob", "scheduled-jobs-billing-reconcile-monthly");
    expect(get(daily.props, "spec", "schedule")).toBe("30 3 * * *");
    expect(get(monthly.props, "spec", "schedule")).toBe("0 6 2 * *");
    expect(
      get(monthly.props, "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "command"),
    ).toEqual(["node", "app/billing/reconcile.ts", "--month", "previous"]);
    for (const job of [daily, monthly]) {
      expect(envOf(job)).toMatchObject({
        BILLING_DATABASE_URL_FILE: "/var/run/secrets/freight/billing-database/BILLING_DATABASE_URL",
        STRIPE_SECRET_KEY_FILE: "/var/run/secrets/freight/stripe/STRIPE_SECRET_KEY",
      });
      expect(envOf(job)["STRIPE_WEBHOOK_SECRET_FILE"]).toBeUndefined();
    }
    expect(all(secondary, "kubernetes:batch/v1:CronJob")).toEqual([]);
  });
});

describe("billing", () => {
  it("syncs Stripe's secrets and the freight_billing login into the API's namespace", () => {
    for (const plan of stacks()) {
      const stripe = one(
        plan,
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "external-secrets-freight-stripe",
      );
      expect(get(stripe.props, "spec", "data")).toEqual([
        { secretKey: "STRIPE_SECRET_KEY", remoteRef: { key: "freight/stripe-secret-key" } },
        { secretKey: "STRIPE_WEBHOOK_SECRET", remoteRef: { key: "freight/stripe-webhook-secret" } },
      ]);
      const login = one(
        plan,
        "kubernetes:external-secrets.io/v1:ExternalSecret",
        "external-secrets-freight-billing-database",
      );
      expect(get(login.props, "spec", "dataFrom", 0, "extract", "key")).toBe("freight/database-billing-role");
      expect(Object.keys(get(login.props, "spec", "target", "template", "data") as object)).toEqual([
        "BILLING_DATABASE_URL",
      ]);
      const env = envOf(deployment(plan, "quote-api"));
      expect(env).toMatchObject({
        STRIPE_SECRET_KEY_FILE: "/var/run/secrets/freight/stripe/STRIPE_SECRET_KEY",
        STRIPE_WEBHOOK_SECRET_FILE: "/var/run/secrets/freight/stripe/STRIPE_WEBHOOK_SECRET",
        BILLING_DATABASE_URL_FILE: "/var/run/secrets/freight/billing-database/BILLING_DATABASE_URL",
      });
      // The API starts only once the Secrets it reads are synced.
      expect(deployment(plan, "quote-api").opts?.dependsOn).toEqual(
        expect.arrayContaining([stripe.urn, login.urn]),
      );
    }
  });

  it("owns the Stripe secrets and billing's login on the primary, rotated like the others, replicated", () => {
    const secrets = Object.fromEntries(
      all(primary, "aws:secretsmanager/secret:Secret").map((s) => [s.props["name"], s.props]),
    );
    for (const name of ["freight/stripe-secret-key", "freight/stripe-webhook-secret"]) {
      expect(secrets[name]).toMatchObject({
        tags: { "secret-class": "third-party-api-key" },
        replicas: [{ region: "us-west-2" }],
      });
    }
    expect(secrets["freight/database-billing-role"]).toMatchObject({
      tags: { "secret-class": "service-role" },
    });
    const days = rotationDays(primary);
    expect(days).toMatchObject({
      "freight/stripe-secret-key": 30,
      "freight/stripe-webhook-secret": 30,
      "freight/database-billing-role": 90,
    });
    // The first Stripe values come from encrypted config, never shown; rotation owns them afterwards.
    const first = one(
      primary,
      "aws:secretsmanager/secretVersion:SecretVersion",
      "secrets-stripeSecretKey-initial",
    );
    expect(first.props["secretString"]).toBe("[secret]");
    expect(first.opts?.ignoreChanges).toEqual(["secretString"]);
    // billing's login starts like the others: a first version naming freight_billing, then rotation.
    expect(DATABASE_LOGINS.databaseBillingRole).toBe("freight_billing");
    expect(
      one(primary, "aws:secretsmanager/secretVersion:SecretVersion", "secrets-databaseBillingRole-initial")
        .opts?.ignoreChanges,
    ).toEqual(["secretString"]);
    // The secondary reads the local replicas; it creates none.
    expect(all(secondary, "aws:secretsmanager/secret:Secret")).toEqual([]);
    expect(one(secondary, "aws:iam/policy:Policy", "secrets-read").props["policy"]).toContain(
      "arn:aws:secretsmanager:us-west-2:123456789012:secret:freight/stripe-secret-key-Ab12Cd",
    );
  });

  it("binds billing's generated Role on Tenants to the quote API's and trial expiry's ServiceAccounts only", () => {
    for (const plan of stacks()) {
      const role = one(
        plan,
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "operators-role-freight-billing",
      );
      expect(role.props["rules"]).toEqual([
        { apiGroups: ["platform.freight.dev"], resources: ["tenants"], verbs: ["get", "patch"] },
      ]);
      const bindings = all(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").filter(
        (b) => get(b.props, "roleRef", "name") === "freight-billing",
      );
      const subjects = bindings.flatMap(
        (b) => b.props["subjects"] as { kind: string; namespace: string; name: string }[],
      );
      expect(subjects.map((x) => x.name).sort()).toEqual(
        plan === primary ? ["quote-api", "trial-expiry"] : ["quote-api"],
      );
      expect(subjects.every((x) => x.kind === "ServiceAccount" && x.namespace === "freight")).toBe(true);
      for (const binding of bindings) {
        expect(get(binding.props, "metadata", "namespace")).toBe("tenants");
        expect(binding.opts?.dependsOn).toContain(role.urn);
      }
      // The runners run as their own account, so they do not inherit the API's Tenant writes.
      expect(get(deployment(plan, "runner").props, "spec", "template", "spec", "serviceAccountName")).toBe(
        "runner",
      );
    }
  });
});

describe("policy pack", () => {
  it("finds no mandatory violation with every capability on", async () => {
    for (const plan of stacks()) {
      const report = await checkStack(plan, { rules });
      expect(report.violations.filter((v) => v.enforcementLevel === "mandatory")).toEqual([]);
    }
  });
});
