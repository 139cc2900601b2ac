// The quote API's configuration from the environment, validated once at start (app/env.ts). Every
// problem is reported in one message (not just the first), so a broken deployment is fixed in one
// round.
import { z } from "zod";
import { ConfigError, defineEnv, postgresUrl, type ConfigProblem, type Env } from "./env.ts";
import { REGION_ROLES } from "./region.ts";
import { pricingModelSetting } from "./pricing/pricing-splits.ts";

const regionRole = z.enum(REGION_ROLES);
const bucketAt = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]@[a-z]{2}(-gov)?-[a-z]+-\d$/,
    "must be <bucket>@<aws-region>, e.g. freight-dev-documents-us-east-1@us-east-1",
  );

export const appConfigSchema = z.object({
  DATABASE_URL: postgresUrl("the app role's connection URL", "postgres://freight_app:...@host:5432/freight"),
  OPS_DATABASE_URL: z
    .string()
    .regex(
      /^postgres(ql)?:\/\//,
      "must be a postgres:// URL of the read-only freight_ops role on the analytics replica (a primary refuses it)",
    )
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("0.0.0.0"),
  PUBLIC_BASE_URL: z.url("must be an absolute URL, e.g. https://api.example.com").optional(),
  REGION_NAME: z.string().min(1).default("local"),
  REGION_ROLE: regionRole.default("primary"),
  REGION_ACTIVE: regionRole.default("primary"),
  // Region routing (app/routing): the other region's public URL, where writes and pinned users are
  // redirected (307); how often the region_routing row is re-read; Retry-After during a write freeze.
  REGION_PEER_URL: z
    .url("must be the other region's absolute URL, e.g. https://api.secondary.example.com")
    .optional(),
  // Data residency (app/http/features.ts): the other region's name (as REGION_NAME there, e.g.
  // us-west-2), so a tenant pinned there is refused here with REGION_PEER_URL as its address.
  REGION_PEER_NAME: z.string().min(1).optional(),
  ROUTING_CACHE_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  // The read canary (app/routing/read-canary.ts): the standby region's replica as the freight_app
  // login, read by the share of lag-tolerant reads the routing row's readCanary weight names. Unset:
  // every read stays on DATABASE_URL whatever the weight (a bare process, tests).
  READ_CANARY_DATABASE_URL: postgresUrl(
    "the freight_app login on the other region's replica",
    "postgres://freight_app:...@replica.other-region:5432/freight",
  ).optional(),
  // How long a tenant's reads stay on the serving database after it wrote through this process:
  // read-your-writes. Above the gate's default lag bound (5 s) so the canary's lag never shows.
  READ_CANARY_FRESH_SECONDS: z.coerce.number().int().min(0).max(600).default(10),
  WRITE_FREEZE_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(600).default(5),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  METERING: z.enum(["on", "off"]).default("on"),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  QUOTE_TTL_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(30),
  // Enterprise SSO (app/sso): how long a browser session issued at the OIDC callback lives.
  SSO_SESSION_MINUTES: z.coerce
    .number()
    .int()
    .min(5)
    .max(12 * 60)
    .default(30),
  // The web console (app/console): the key its session cookies and CSRF tokens are signed with, the
  // same in both regions so a session survives a region flip. Unset, the console's public pages work
  // and sign-in answers 503 naming this variable (tests and bare processes need no console).
  CONSOLE_SESSION_SECRET: z
    .string()
    .min(32, "must be at least 32 random characters (e.g. openssl rand -base64 48)")
    .optional(),
  AUTH_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  // The PricingModel quotes are priced with (its pricing_model_splits row, app/pricing/pricing-splits.ts).
  PRICING_MODEL: pricingModelSetting,
  // How often each replica writes api_keys.last_used_at (batched, never a write per request).
  API_KEY_LAST_USED_FLUSH_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  // Request rate limits (app/http/rate-limit.ts): each tenant's tenant_rate_limits, and per client
  // address on the anonymous rate calculator, in a token bucket shared by the region's replicas.
  // Off by default so a bare process needs no limits seeded; the stacks switch it on.
  RATE_LIMITING: z.enum(["on", "off"]).default("off"),
  // How many milliseconds of a bucket's rate a replica leases at once: longer means fewer database
  // round trips, shorter means less left unspent on a replica when traffic moves.
  RATE_LIMIT_LEASE_MS: z.coerce.number().int().min(1).max(1000).default(50),
  RATE_CALCULATOR_REQUESTS_PER_SECOND: z.coerce.number().int().min(1).max(1000).default(2),
  RATE_CALCULATOR_BURST: z.coerce.number().int().min(1).max(10_000).default(20),
  // How many proxies in front of the app append to X-Forwarded-For. 0: the connection's address is
  // the client's (the NLB preserves client addresses), and a client-sent X-Forwarded-For is ignored.
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(5).default(0),
  // name=ISO timestamp pairs, e.g. "llm-provider=2026-11-01T00:00:00Z,service-role=2026-10-15T00:00:00Z"
  SECRETS_LAST_ROTATED: z
    .string()
    .regex(
      /^([a-z0-9-]+=[^,=]+)(,[a-z0-9-]+=[^,=]+)*$/,
      "must be name=ISO-timestamp pairs separated by commas",
    )
    .optional(),
  // Rotation dates from Secrets Manager (app/observability/secret-rotation.ts): label=secret pairs
  // (name or ARN) read with DescribeSecret at start and every SECRETS_ROTATION_REFRESH_SECONDS.
  // SECRETS_LAST_ROTATED above overrides the secrets it names.
  SECRETS_ROTATION_WATCH: z
    .string()
    .regex(
      /^([a-z0-9-]+=[^,=\s]+)(,[a-z0-9-]+=[^,=\s]+)*$/,
      "must be label=secret-name-or-ARN pairs separated by commas, e.g. llm-provider-api-key=freight/llm-provider-api-key",
    )
    .optional(),
  SECRETS_ROTATION_REFRESH_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as us-east-1")
    .optional(),
  // Another Secrets Manager endpoint (the local stand-in); the AWS SDK's own variable name.
  AWS_ENDPOINT_URL_SECRETS_MANAGER: z.url("must be an absolute URL, e.g. http://127.0.0.1:4566").optional(),
  // Billing (app/billing): Stripe checkout, webhooks, overage. Off by default so the API runs without Stripe.
  BILLING: z.enum(["on", "off"]).default("off"),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_/, "must be a Stripe secret or restricted key (sk_... or rk_...)")
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_/, "must be the endpoint's signing secret (whsec_...)")
    .optional(),
  // Another Stripe API endpoint (stripe-mock or the local test server), e.g. http://127.0.0.1:12111.
  STRIPE_API_URL: z.url("must be an absolute URL, e.g. http://127.0.0.1:12111").optional(),
  BILLING_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL of the freight_billing role")
    .optional(),
  // price=plan pairs: which Stripe price buys which Plan.
  STRIPE_PRICE_PLANS: z
    .string()
    .regex(
      /^[A-Za-z0-9_]+=[a-z][a-z0-9-]*(,[A-Za-z0-9_]+=[a-z][a-z0-9-]*)*$/,
      "must be price=plan pairs separated by commas",
    )
    .default("price_starter_monthly=starter,price_pro_monthly=pro,price_enterprise_monthly=enterprise"),
  // meter=event_name pairs: the Stripe billing meter each meter's overage is reported to.
  STRIPE_OVERAGE_METERS: z
    .string()
    .regex(/^[a-z_]+=[a-z0-9_]+(,[a-z_]+=[a-z0-9_]+)*$/, "must be meter=event_name pairs separated by commas")
    .default("quotes=freight_quotes_overage,bulk_jobs=freight_bulk_jobs_overage"),
  BILLING_FREE_PLAN: z.string().default("starter"),
  BILLING_GRACE_DAYS: z.coerce.number().int().min(0).max(60).default(7),
  BILLING_TENANT_NAMESPACE: z.string().default("tenants"),
  BILLING_OVERAGE_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  // Documents (app/documents): each region's documents bucket as <bucket>@<aws-region>. Uploads go to
  // the active region's bucket; reads fall back to the other region's replica when a bucket does not
  // answer. Unset: the document routes answer 404 documents-not-enabled.
  DOCUMENTS_BUCKET_PRIMARY: bucketAt.optional(),
  DOCUMENTS_BUCKET_SECONDARY: bucketAt.optional(),
  // Another S3 endpoint per region (the local platform's S3 gateways); the SDK's regional endpoint otherwise.
  DOCUMENTS_S3_ENDPOINT_PRIMARY: z.url("must be an absolute URL, e.g. http://127.0.0.1:7070").optional(),
  DOCUMENTS_S3_ENDPOINT_SECONDARY: z.url("must be an absolute URL, e.g. http://127.0.0.1:7071").optional(),
  DOCUMENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(5 * 2 ** 30)
    .default(25 * 2 ** 20),
  DOCUMENTS_UPLOAD_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(900),
  DOCUMENTS_DOWNLOAD_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
  // How long a data subject request's export link works (app/compliance/dsr/links.ts). A day in every
  // region (the stacks leave it unset): long enough to download a large bundle, short enough that a
  // forwarded link goes stale; a fresh one is a GET away.
  DSR_EXPORT_LINK_TTL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(86_400),
  // How often each region's bucket is asked whether it answers (reads fall back while it does not).
  DOCUMENTS_PROBE_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  // Support tickets from alerts (app/routes/support.ts): the bearer token Alertmanager's ticket
  // receivers send. Unset: POST /webhooks/alertmanager answers 404 alert-receiver-not-configured.
  ALERT_RECEIVER_TOKEN: z
    .string()
    .min(24, "must be at least 24 characters: a random bearer token")
    .optional(),
  KUBECONFIG: z.string().optional(),
  // Billing's Tenant writes in a pod: the pod's ServiceAccount token and the cluster's own API
  // (KUBERNETES_SERVICE_HOST), instead of a KUBECONFIG file. Explicit, so a pod never writes
  // Tenants merely because a token happens to be mounted.
  KUBERNETES_API: z
    .enum(["in-cluster"], "must be in-cluster (the pod's ServiceAccount), or unset to use KUBECONFIG")
    .optional(),
});

export type AppConfig = z.infer<typeof appConfigSchema> & { publicBaseUrl: string };

const BILLING_SECRETS = [
  ["STRIPE_WEBHOOK_SECRET", "the webhook endpoint's signing secret (whsec_...) from the Stripe dashboard"],
  ["STRIPE_SECRET_KEY", "the Stripe API key (sk_... or a restricted rk_...)"],
  ["BILLING_DATABASE_URL", "the freight_billing role's connection URL"],
] as const;

/** The quote API's secrets: each read from `<NAME>_FILE` (a mounted Secret key), see app/env.ts. */
export const APP_SECRETS = [
  "DATABASE_URL",
  "OPS_DATABASE_URL",
  "READ_CANARY_DATABASE_URL",
  "BILLING_DATABASE_URL",
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "ALERT_RECEIVER_TOKEN",
  "CONSOLE_SESSION_SECRET",
] as const;

export const appEnv = defineEnv({
  process: "quote API",
  schema: appConfigSchema,
  secrets: APP_SECRETS,
  check: (config) => [
    // Billing cannot verify a webhook or call Stripe without these; starting anyway would drop events.
    ...(config.BILLING === "on"
      ? BILLING_SECRETS.filter(([name]) => !config[name]).map(([variable, what]) => ({
          variable,
          message: `is required when BILLING=on: ${what}; or set BILLING=off`,
        }))
      : []),
    ...rotationConfigProblems(config),
    // A region whose bucket is unknown could neither take uploads after a flip nor serve a fallback.
    ...(Boolean(config.DOCUMENTS_BUCKET_PRIMARY) !== Boolean(config.DOCUMENTS_BUCKET_SECONDARY)
      ? [
          {
            variable: config.DOCUMENTS_BUCKET_PRIMARY
              ? "DOCUMENTS_BUCKET_SECONDARY"
              : "DOCUMENTS_BUCKET_PRIMARY",
            message:
              "is required with the other region's bucket: documents need both regions' buckets, or neither",
          },
        ]
      : []),
    ...(config.KUBERNETES_API && config.KUBECONFIG
      ? [
          {
            variable: "KUBERNETES_API",
            message:
              "is in-cluster while KUBECONFIG is set too: Tenant writes (signup, billing) need one control plane; unset one",
          },
        ]
      : []),
  ],
  finish: (config): AppConfig => {
    const publicBaseUrl = config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;
    return { ...config, publicBaseUrl: publicBaseUrl.replace(/\/$/, "") };
  },
});

/** The quote API's configuration from `env`; throws ConfigError listing every problem. */
export function parseAppConfig(env: Env): AppConfig {
  return appEnv.parse(env);
}

function rotationPairs(value: string | undefined): [name: string, iso: string, at: Date][] {
  return (value ? value.split(",") : []).map((pair) => {
    const [name, iso] = pair.split("=") as [string, string];
    return [name, iso, new Date(iso)];
  });
}

function rotationProblems(value: string | undefined): ConfigProblem[] {
  return rotationPairs(value)
    .filter(([, , at]) => Number.isNaN(at.getTime()))
    .map(([name, iso]) => ({
      variable: "SECRETS_LAST_ROTATED",
      message: `${name}: '${iso}' is not a timestamp; use ISO 8601, e.g. ${name}=2026-11-01T00:00:00Z`,
    }));
}

/**
 * The rotation watch's settings, as every process that checks its secrets' ages reads them (the quote
 * API, the runner, the operators): the same keys, checked the same way by each process's config.
 */
export const rotationConfigShape = {
  SECRETS_LAST_ROTATED: appConfigSchema.shape.SECRETS_LAST_ROTATED,
  SECRETS_ROTATION_WATCH: appConfigSchema.shape.SECRETS_ROTATION_WATCH,
  SECRETS_ROTATION_REFRESH_SECONDS: appConfigSchema.shape.SECRETS_ROTATION_REFRESH_SECONDS,
  AWS_REGION: appConfigSchema.shape.AWS_REGION,
  AWS_ENDPOINT_URL_SECRETS_MANAGER: appConfigSchema.shape.AWS_ENDPOINT_URL_SECRETS_MANAGER,
};
export type RotationConfig = z.infer<z.ZodObject<typeof rotationConfigShape>>;

/** What is wrong with a process's rotation settings, beyond each key's own shape. */
export function rotationConfigProblems(config: RotationConfig): ConfigProblem[] {
  return [
    ...rotationProblems(config.SECRETS_LAST_ROTATED),
    ...(config.SECRETS_ROTATION_WATCH && !config.AWS_REGION
      ? [
          {
            variable: "AWS_REGION",
            message:
              "is required when SECRETS_ROTATION_WATCH is set: the region whose Secrets Manager holds the watched secrets",
          },
        ]
      : []),
  ];
}

/** When each secret was last rotated; the values were checked by parseAppConfig. */
export function parseRotationTimestamps(value: string | undefined): Map<string, Date> {
  const problems = rotationProblems(value);
  if (problems.length) throw new ConfigError(appEnv.process, problems);
  return new Map(rotationPairs(value).map(([name, , at]) => [name, at]));
}
