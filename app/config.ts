// Process configuration from the environment, validated once at start. Every problem is reported in
// one message (not just the first), so a broken deployment is fixed in one round.
import { z } from "zod";

const regionRole = z.enum(["primary", "secondary"]);

const schema = z.object({
  DATABASE_URL: z
    .string({
      error: "is required: the app role's connection URL, e.g. postgres://freight_app:...@host:5432/freight",
    })
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  OPS_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL of the read-only freight_ops role")
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
  ROUTING_CACHE_MS: z.coerce.number().int().min(10).max(60_000).default(500),
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
  AUTH_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  // name=ISO timestamp pairs, e.g. "llm-provider=2026-11-01T00:00:00Z,service-role=2026-10-15T00:00:00Z"
  SECRETS_LAST_ROTATED: z
    .string()
    .regex(
      /^([a-z0-9-]+=[^,=]+)(,[a-z0-9-]+=[^,=]+)*$/,
      "must be name=ISO-timestamp pairs separated by commas",
    )
    .optional(),
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
  KUBECONFIG: z.string().optional(),
  // Billing's Tenant writes in a pod: the pod's ServiceAccount token and the cluster's own API
  // (KUBERNETES_SERVICE_HOST), instead of a KUBECONFIG file. Explicit, so a pod never writes
  // Tenants merely because a token happens to be mounted.
  KUBERNETES_API: z
    .enum(["in-cluster"], "must be in-cluster (the pod's ServiceAccount), or unset to use KUBECONFIG")
    .optional(),
});

export type AppConfig = z.infer<typeof schema> & { publicBaseUrl: string };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`));
  }
  const config = parsed.data;
  if (config.BILLING === "on") {
    // Billing cannot verify a webhook or call Stripe without these; starting anyway would drop events.
    const missing = [
      [
        "STRIPE_WEBHOOK_SECRET",
        "the webhook endpoint's signing secret (whsec_...) from the Stripe dashboard",
      ],
      ["STRIPE_SECRET_KEY", "the Stripe API key (sk_... or a restricted rk_...)"],
      ["BILLING_DATABASE_URL", "the freight_billing role's connection URL"],
    ].filter(([name]) => !config[name as keyof typeof config]);
    if (missing.length)
      throw new ConfigError(
        missing.map(([name, what]) => `${name} is required when BILLING=on: ${what}; or set BILLING=off`),
      );
  }
  if (config.KUBERNETES_API && config.KUBECONFIG)
    throw new ConfigError([
      "KUBECONFIG and KUBERNETES_API=in-cluster are both set: billing's Tenant writes need one control plane; unset one",
    ]);
  const publicBaseUrl = config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;
  return { ...config, publicBaseUrl: publicBaseUrl.replace(/\/$/, "") };
}

export function parseRotationTimestamps(value: string | undefined): Map<string, Date> {
  const result = new Map<string, Date>();
  for (const pair of value ? value.split(",") : []) {
    const [name, iso] = pair.split("=") as [string, string];
    const at = new Date(iso);
    if (Number.isNaN(at.getTime()))
      throw new ConfigError([`SECRETS_LAST_ROTATED ${name}: '${iso}' is not a timestamp`]);
    result.set(name, at);
  }
  return result;
}
