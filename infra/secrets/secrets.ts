// Secrets Manager entries the platform runs on. The primary region owns them (and their
// rotation) and replicates them to the secondary, so both regions read the same current value
// and rotation runs exactly once: rotating the service role against the secondary's read-only
// replica database would fail. Third-party API keys rotate every 30 days, the database service
// roles every 90. Each secret carries a `secret-class` tag saying which window applies.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TENANT_SSO_SECRET_PREFIX } from "../../app/sso/client-secret.ts";

export const ROTATION_DAYS = {
  llmProviderApiKey: 30,
  workflowAutomationApiKey: 30,
  databaseServiceRole: 90,
  databaseOperatorRole: 90,
  databaseRunnerRole: 90,
  databaseOwnerRole: 90,
  databaseOpsRole: 90,
  stripeSecretKey: 30,
  stripeWebhookSecret: 30,
  databaseBillingRole: 90,
  opsWebhookUrl: 30,
  alertReceiverToken: 30,
  crmWebhookUrl: 30,
  crmWebhookSecret: 30,
  billingSmtpUrl: 30,
  // The console's session and CSRF signing key: a rotation only signs out sessions (8 h at most) once.
  consoleSessionSecret: 30,
} as const;

export type PlatformSecret = keyof typeof ROTATION_DAYS;

/** Exist only where billing is on (`freight:billing`): Stripe's two secrets and billing's login. */
export const BILLING_SECRETS = [
  "stripeSecretKey",
  "stripeWebhookSecret",
  "databaseBillingRole",
  "billingSmtpUrl",
] as const;
export type BillingSecret = (typeof BILLING_SECRETS)[number];
export type CoreSecret = Exclude<PlatformSecret, BillingSecret>;

const DESCRIPTIONS: Record<PlatformSecret, string> = {
  llmProviderApiKey: "API key of the LLM provider the agent runners call",
  workflowAutomationApiKey: "API key of the workflow-automation service (carrier invites, notifications)",
  databaseServiceRole: "PostgreSQL login of the app's service role (multi-user rotation via masterarn)",
  databaseOperatorRole:
    "PostgreSQL login of the platform operators' role (multi-user rotation via masterarn)",
  databaseRunnerRole:
    "PostgreSQL login of the runners' role, which claims jobs across tenants (multi-user rotation via masterarn)",
  databaseOwnerRole:
    "PostgreSQL login of the schema owner (freight_owner), used only by the migrations Job (multi-user rotation via masterarn)",
  databaseOpsRole:
    "PostgreSQL login of the read-only ops role (freight_ops): Grafana's analytics datasource and the weekly report, on the analytics replica (multi-user rotation via masterarn)",
  stripeSecretKey: "Stripe API key billing calls Stripe with (sk_... or a restricted rk_...)",
  stripeWebhookSecret: "Signing secret of the Stripe webhook endpoint (whsec_...)",
  databaseBillingRole:
    "PostgreSQL login of billing's role (freight_billing: all tenants' billing rows; multi-user rotation via masterarn)",
  opsWebhookUrl: "URL (with its token) of the ops webhook that receives pages, tickets and ops notices",
  alertReceiverToken:
    "Bearer token Alertmanager sends to the quote API's support-ticket receiver (ALERT_RECEIVER_TOKEN)",
  crmWebhookUrl: "URL of the CRM webhook the lead-signal job delivers to (may carry the CRM's token)",
  crmWebhookSecret: "Secret the lead-signal job signs each CRM delivery with (X-Freight-Signature)",
  billingSmtpUrl: "smtps:// URL (with the mail service's SMTP credential) billing notices are sent through",
  consoleSessionSecret:
    "Key the web console signs its session cookies and CSRF tokens with (at least 32 random characters)",
};

export const SECRET_CLASS: Record<PlatformSecret, "third-party-api-key" | "service-role"> = {
  llmProviderApiKey: "third-party-api-key",
  workflowAutomationApiKey: "third-party-api-key",
  databaseServiceRole: "service-role",
  databaseOperatorRole: "service-role",
  databaseRunnerRole: "service-role",
  databaseOwnerRole: "service-role",
  databaseOpsRole: "service-role",
  stripeSecretKey: "third-party-api-key",
  stripeWebhookSecret: "third-party-api-key",
  databaseBillingRole: "service-role",
  // The URL embeds the receiving service's token: a third-party credential.
  opsWebhookUrl: "third-party-api-key",
  // A shared bearer token between two of our services: the stricter 30-day window of API keys.
  alertReceiverToken: "third-party-api-key",
  crmWebhookUrl: "third-party-api-key",
  crmWebhookSecret: "third-party-api-key",
  billingSmtpUrl: "third-party-api-key",
  // Rotated on the API keys' 30-day window.
  consoleSessionSecret: "third-party-api-key",
};

export const SECRET_NAMES: Record<PlatformSecret, string> = {
  llmProviderApiKey: "freight/llm-provider-api-key",
  workflowAutomationApiKey: "freight/workflow-automation-api-key",
  databaseServiceRole: "freight/database-service-role",
  databaseOperatorRole: "freight/database-operator-role",
  databaseRunnerRole: "freight/database-runner-role",
  databaseOwnerRole: "freight/database-owner-role",
  databaseOpsRole: "freight/database-ops-role",
  stripeSecretKey: "freight/stripe-secret-key",
  stripeWebhookSecret: "freight/stripe-webhook-secret",
  databaseBillingRole: "freight/database-billing-role",
  opsWebhookUrl: "freight/ops-webhook-url",
  alertReceiverToken: "freight/alert-receiver-token",
  crmWebhookUrl: "freight/crm-webhook-url",
  crmWebhookSecret: "freight/crm-webhook-secret",
  billingSmtpUrl: "freight/billing-smtp-url",
  consoleSessionSecret: "freight/console-session-secret",
};

/** PostgreSQL logins whose passwords the rotation Lambda manages. */
export const DATABASE_LOGINS: Partial<Record<PlatformSecret, string>> = {
  databaseServiceRole: "freight_app",
  databaseOperatorRole: "freight_operator",
  databaseRunnerRole: "freight_runner",
  databaseOwnerRole: "freight_owner",
  databaseOpsRole: "freight_ops",
  databaseBillingRole: "freight_billing",
};

/** The `secret` label each secret's rotation date is exported under (its name without `freight/`). */
export function rotationLabel(secret: PlatformSecret): string {
  return SECRET_NAMES[secret].replace(/^freight\//, "");
}

/**
 * The platform secrets each long-running process itself uses, whose ages it checks at run time (the
 * quote API and the evidence job watch every platform secret: the API exports the dates the rotation
 * alerts read, the evidence reports them all).
 */
export const SECRETS_USED = {
  // Its login, the ops webhook it delivers to, the agent tasks' third-party keys, billing mail.
  runner: [
    "databaseRunnerRole",
    "opsWebhookUrl",
    "llmProviderApiKey",
    "workflowAutomationApiKey",
    "billingSmtpUrl",
  ],
  // Its login (the failover controller's logins to both regions are the same role's).
  operators: ["databaseOperatorRole"],
} as const satisfies Record<string, readonly PlatformSecret[]>;

/** SECRETS_ROTATION_WATCH: every platform secret, or `only` these, as label=name pairs. */
export function rotationWatchList(billing: boolean, only?: readonly PlatformSecret[]): string {
  return (Object.keys(SECRET_NAMES) as PlatformSecret[])
    .filter((s) => !only || only.includes(s))
    .filter((s) => billing || !(BILLING_SECRETS as readonly string[]).includes(s))
    .map((s) => `${rotationLabel(s)}=${SECRET_NAMES[s]}`)
    .join(",");
}

interface PrimarySecretsArgs {
  role: "primary";
  region: string;
  /** The secondary's region; every secret is replicated there. */
  replicaRegion: string;
  rotationLambdaArn: string;
  database: {
    host: pulumi.Input<string>;
    port: number;
    dbname: string;
    masterSecretArn: pulumi.Input<string>;
  };
  /** Billing on: the first values of Stripe's secrets (from encrypted stack config); rotation owns later ones. */
  stripe?: { secretKey: pulumi.Input<string>; webhookSecret: pulumi.Input<string> };
}

interface SecondarySecretsArgs {
  role: "secondary";
  region: string;
  /** ARNs of the primary's secrets (StackReference outputs); the local replicas share their names. */
  primarySecretArns: Record<CoreSecret, pulumi.Input<string>> &
    Partial<Record<BillingSecret, pulumi.Input<string>>>;
}

export type SecretsArgs = PrimarySecretsArgs | SecondarySecretsArgs;

/** A replica secret has the source's ARN with its own region. */
export function replicaSecretArn(sourceArn: string, region: string): string {
  const parts = sourceArn.split(":");
  if (parts.length < 7 || parts[2] !== "secretsmanager")
    throw new Error(`Not a Secrets Manager ARN: ${sourceArn}`);
  parts[3] = region;
  return parts.join(":");
}

export class Secrets extends pulumi.ComponentResource {
  /** ARNs readable in this region (the originals on the primary, the replicas on the secondary). */
  readonly secretArns: Record<CoreSecret, pulumi.Output<string>> &
    Partial<Record<BillingSecret, pulumi.Output<string>>>;
  /** Read access to exactly these secrets, for the in-cluster secret sync. */
  readonly readPolicyArn: pulumi.Output<string>;
  /** Metadata (rotation dates) of exactly these secrets, never their values: for the app's rotation watch. */
  readonly describePolicyArn: pulumi.Output<string>;
  /** The values of tenants' SSO client secrets (TENANT_SSO_SECRET_PREFIX in this region), for the quote API. */
  readonly tenantSsoReadPolicyArn: pulumi.Output<string>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:secrets:Secrets", name, {}, opts);
    const parent = { parent: this };
    const billing =
      args.role === "primary"
        ? args.stripe !== undefined
        : args.primarySecretArns.stripeSecretKey !== undefined;
    const names = (Object.keys(ROTATION_DAYS) as PlatformSecret[]).filter(
      (n) => billing || !(BILLING_SECRETS as readonly string[]).includes(n),
    );

    let keyArn: pulumi.Output<string> | undefined;
    if (args.role === "primary") {
      const key = new aws.kms.Key(
        `${name}-key`,
        { description: "Encrypts platform secrets in the primary region", enableKeyRotation: true },
        { parent: this, protect: true },
      );
      keyArn = key.arn;
      const arns = {} as Record<CoreSecret, pulumi.Output<string>> &
        Partial<Record<BillingSecret, pulumi.Output<string>>>;
      for (const secretName of names) {
        const secret = new aws.secretsmanager.Secret(
          `${name}-${secretName}`,
          {
            name: SECRET_NAMES[secretName],
            description: DESCRIPTIONS[secretName],
            kmsKeyId: key.arn,
            recoveryWindowInDays: 30,
            tags: { "secret-class": SECRET_CLASS[secretName] },
            // The replica uses the secondary's aws/secretsmanager key: a key of this region cannot.
            replicas: [{ region: args.replicaRegion }],
          },
          { parent: this, protect: true },
        );
        const login = DATABASE_LOGINS[secretName];
        if (login) {
          // The first version names the login; the rotation Lambda sets the password on its first
          // run (rotateImmediately) using the RDS-managed master secret.
          new aws.secretsmanager.SecretVersion(
            `${name}-${secretName}-initial`,
            {
              secretId: secret.id,
              secretString: pulumi
                .all([args.database.host, args.database.masterSecretArn])
                .apply(([host, masterarn]) =>
                  JSON.stringify({
                    engine: "postgres",
                    host,
                    port: args.database.port,
                    dbname: args.database.dbname,
                    username: login,
                    masterarn,
                  }),
                ),
            },
            // Rotation writes new versions; Pulumi must not roll them back.
            { parent: this, ignoreChanges: ["secretString"] },
          );
        }
        const firstValue =
          secretName === "stripeSecretKey"
            ? args.stripe?.secretKey
            : secretName === "stripeWebhookSecret"
              ? args.stripe?.webhookSecret
              : undefined;
        if (firstValue) {
          new aws.secretsmanager.SecretVersion(
            `${name}-${secretName}-initial`,
            { secretId: secret.id, secretString: pulumi.secret(firstValue) },
            // Rotation writes new versions; Pulumi must not roll them back.
            { parent: this, ignoreChanges: ["secretString"] },
          );
        }
        new aws.secretsmanager.SecretRotation(
          `${name}-${secretName}`,
          {
            // By name (known before creation) rather than ARN, so a preview can already tell
            // which secret this schedule rotates.
            secretId: secret.name,
            rotationLambdaArn: args.rotationLambdaArn,
            rotationRules: { automaticallyAfterDays: ROTATION_DAYS[secretName] },
            // The first rotation is started by hand (docs/deploy.md): API keys need their first
            // value from a human, database logins need the roles the migrations create.
            rotateImmediately: false,
          },
          parent,
        );
        arns[secretName] = secret.arn;
      }
      this.secretArns = arns;
    } else {
      const primaryArns = args.primarySecretArns;
      this.secretArns = Object.fromEntries(
        names.map((n) => [
          n,
          pulumi.output(primaryArns[n]!).apply((arn) => replicaSecretArn(arn, args.region)),
        ]),
      ) as Secrets["secretArns"];
    }

    const readPolicy = new aws.iam.Policy(
      `${name}-read`,
      {
        description: "Read the platform secrets of this region (External Secrets Operator)",
        policy: pulumi.all([pulumi.all(names.map((n) => this.secretArns[n]!)), keyArn]).apply(([arns, key]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                Resource: arns,
              },
              ...(key ? [{ Effect: "Allow", Action: ["kms:Decrypt"], Resource: key }] : []),
            ],
          }),
        ),
      },
      parent,
    );
    this.readPolicyArn = readPolicy.arn;
    const describePolicy = new aws.iam.Policy(
      `${name}-describe`,
      {
        description: "Read when the platform secrets of this region were rotated (metadata only, no values)",
        policy: pulumi.all(names.map((n) => this.secretArns[n])).apply((arns) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["secretsmanager:DescribeSecret"], Resource: arns }],
          }),
        ),
      },
      parent,
    );
    this.describePolicyArn = describePolicy.arn;
    // Tenants' secrets are created per tenant by ops (never by this stack), in the tenant's region,
    // with the account's default key: the prefix is the boundary, so no platform secret is readable.
    const account = aws.getCallerIdentityOutput({}, parent).accountId;
    const tenantSsoPolicy = new aws.iam.Policy(
      `${name}-tenant-sso`,
      {
        description: "Read tenants' SSO client secrets of this region (only under the tenant SSO prefix)",
        policy: account.apply((id) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Action: ["secretsmanager:GetSecretValue"],
                Resource: `arn:aws:secretsmanager:${args.region}:${id}:secret:${TENANT_SSO_SECRET_PREFIX}*`,
              },
            ],
          }),
        ),
      },
      parent,
    );
    this.tenantSsoReadPolicyArn = tenantSsoPolicy.arn;
    this.registerOutputs({
      secretArns: this.secretArns,
      readPolicyArn: this.readPolicyArn,
      describePolicyArn: this.describePolicyArn,
      tenantSsoReadPolicyArn: this.tenantSsoReadPolicyArn,
    });
  }
}
