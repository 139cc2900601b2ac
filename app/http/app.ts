// The quote API: a Fastify app whose routes are plugins sharing one context (pools, metrics, engine).
import type { RotationLedger } from "../observability/secret-rotation.ts";
import { erasedSubjectProblem } from "../compliance/dsr/tombstone.ts";
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type preHandlerAsyncHookHandler,
} from "fastify";
import type pg from "pg";
import type { AppConfig } from "../config.ts";
import { createPool, type Db } from "../db/pool.ts";
import { QuoteWriter, quoteWriteLanes, type QuoteWriteOptions } from "../db/quote-writes.ts";
import type { Meter } from "../metering/meters.ts";
import { consume, NoEntitlementError, type MeterOutcome } from "../metering/meter.ts";
import { statusClass, type AppMetrics } from "../observability/metrics.ts";
import type { QuoteEngine } from "../pricing/engine.ts";
import { PricingSplits } from "../pricing/pricing-splits.ts";
import { QuotePricing } from "../pricing/quote-pricing.ts";
import { healthRoutes } from "../routes/health.ts";
import { quoteRoutes } from "../routes/quotes.ts";
import { usageRoutes } from "../routes/usage.ts";
import { dataRequestRoutes } from "../routes/data-requests.ts";
import { limitIncreaseRoutes } from "../routes/limit-increases.ts";
import { alertReceiverRoutes, supportTicketRoutes } from "../routes/support.ts";
import { assistantRoutes } from "../routes/assistant.ts";
import { onboardingRoutes } from "../routes/onboarding.ts";
import { directoryRoutes } from "../routes/directory.ts";
import { npsRoutes } from "../routes/nps.ts";
import { contractRateRoutes } from "../routes/contract-rates.ts";
import { settlementRoutes } from "../routes/settlements.ts";
import type { PlanFeature } from "../db/plans.ts";
import { requireFeature, residencyProblem } from "./features.ts";
import type { ClientSecrets } from "../sso/client-secret.ts";
import { OidcRelyingParty } from "../sso/oidc.ts";
import { cookieValue, SESSION_COOKIE, ssoAdminRoutes, ssoBrowserRoutes } from "../sso/routes.ts";
import { authenticateSession } from "../sso/session.ts";
import { RegionRouter } from "../routing/router.ts";
import { ReadCanary } from "../routing/read-canary.ts";
import { billingRoutes, billingStatusHeader } from "../billing/routes.ts";
import type { BillingService } from "../billing/service.ts";
import { bulkJobRoutes } from "../jobs/bulk-jobs.ts";
import { documentStoreFrom } from "../documents/storage.ts";
import { documentRoutes } from "../routes/documents.ts";
import type { RegionRole } from "../region.ts";
import {
  Authenticator,
  presentedKey,
  requiredScope,
  requireScope,
  type Principal,
  type Scope,
} from "./auth.ts";
import { listenForKeyChanges } from "./auth-invalidation.ts";
import { KeyUsageRecorder } from "./key-usage.ts";
import { apiKeyRoutes } from "../routes/api-keys.ts";
import { signupRoutes } from "../routes/signup.ts";
import type { TenantRegistrar } from "../signup/tenant-registrar.ts";
import { rateCalculatorRoutes } from "../routes/rate-calculator.ts";
import {
  claimIdempotencyKey,
  idempotencyKeyFrom,
  requestFingerprint,
  storeIdempotentResponse,
  waitUntilDurable,
  type StoredResponse,
} from "./idempotency.ts";
import { inputBoundary } from "./boundary.ts";
import { Problem, sendProblem } from "./problem.ts";
import { meterLimitProblem, meterUsageHeader } from "./limits.ts";
import { applyRateDecision, LeasedBuckets, postgresTakeTokens } from "./rate-limit.ts";
import { jsonSerializerCompiler, zodValidatorCompiler, type Exchange } from "./contract.ts";
import { ApiContract, contractRoutes } from "./openapi.ts";
import { renderReferencePage } from "./reference-page.ts";
import { secretValue } from "../env.ts";
import { authenticateConsoleSession, consoleSessionCookie } from "../console/auth.ts";
import { consoleRoutes } from "../console/routes.ts";
import { ConsoleSessions } from "../console/session.ts";

export interface AppContext {
  config: AppConfig;
  pool: pg.Pool;
  /** Read-only cross-tenant connection for aggregate gauges (optional). */
  opsPool?: pg.Pool;
  metrics: AppMetrics;
  engine: QuoteEngine;
  /** Prices a tenant's quote with its version of the PricingModel split, as this replica last read it. */
  pricing: QuotePricing;
  /** The rotation dates of the secrets this process uses, against their windows (/readyz). */
  secretRotation?: RotationLedger;
  authenticator: Authenticator;
  /** How quotes are stored: metered or not, and for how long they stay bookable. */
  quoteWrites: QuoteWriteOptions;
  /** Stores unkeyed quotes, grouping those sent at the same moment into one statement. */
  quoteWriter: QuoteWriter;
  /** The region that takes writes now (the region_routing row, as this replica last read it). */
  activeRegion(): RegionRole;
  /** Runs `work` in a transaction confined to the caller's tenant. */
  asTenant<T>(request: FastifyRequest, work: (db: Db) => Promise<T>): Promise<T>;
  /** Counts one unit of `meter` (or denies with a 429 problem) inside the caller's transaction. */
  meter(
    db: Db,
    request: FastifyRequest,
    reply: FastifyReply,
    meter: Meter,
    quantity?: number,
  ): Promise<MeterOutcome | null>;
  /** A POST whose effects and answer are stored under its Idempotency-Key, replayed on retry. */
  idempotent(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (db: Db) => Promise<StoredResponse>,
  ): Promise<FastifyReply>;
  /** Records a meter decision (metrics, Meter-Usage header); a denial throws the 429 problem. */
  settleMeter(request: FastifyRequest, reply: FastifyReply, outcome: MeterOutcome): MeterOutcome;
  noEntitlement(meter: Meter): Problem;
  /** A preHandler refusing (403) callers whose plan lacks `feature`: one per route family. */
  feature(feature: PlanFeature): preHandlerAsyncHookHandler;
  /**
   * Spends one request of bucket `key` (RATE_LIMITING=on): sets the RateLimit fields, or throws the
   * 429 problem, whose detail names `who` is limited and the `fix`.
   */
  limitRequestRate(
    reply: FastifyReply,
    policy: "tenant" | "address",
    key: string,
    wording: { who: string; fix: string },
  ): Promise<void>;
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The API key scope the route needs; without it, read for GET/HEAD and quote for the rest. */
    scope?: Scope;
  }
  interface FastifyInstance {
    /** Every registered route and the OpenAPI document built from their contracts. */
    apiContract: ApiContract;
  }
}

export interface BuildOptions {
  config: AppConfig;
  pool: pg.Pool;
  opsPool?: pg.Pool;
  metrics: AppMetrics;
  engine: QuoteEngine;
  logger?: boolean | Record<string, unknown>;
  /** Stripe billing (BILLING=on); without it only the upgrade landing is served. */
  billing?: BillingService;
  /** Where signups create Tenant objects; without a control plane signup answers 503. */
  tenants?: TenantRegistrar;
  /** Where tenants' SSO client secrets are read (Secrets Manager); without it SSO logins answer 503. */
  ssoSecrets?: ClientSecrets;
  /** Rotation dates of the secrets this process uses; /readyz reads "degraded" near a deadline. */
  secretRotation?: RotationLedger;
  /** Test-only: sees every answer (route, status, headers, body) to hold it to the OpenAPI document. */
  observeExchange?: (exchange: Exchange) => void;
}

export const BODY_LIMIT_BYTES = 256 * 1024;

export async function buildApp(options: BuildOptions): Promise<FastifyInstance> {
  const { config, pool, metrics } = options;
  const app = Fastify({
    logger: options.logger ?? { level: config.LOG_LEVEL },
    bodyLimit: BODY_LIMIT_BYTES,
    // One structured line per failed request comes from the error handler; per-request logs at
    // 1,000 requests/s cost more than they tell.
    logController: new LogController({ disableRequestLogging: true }),
    // The client's address is what the load balancer delivers: with TRUSTED_PROXY_HOPS=0 (the NLB
    // preserves client addresses) a client-sent X-Forwarded-For is ignored, so nobody picks their
    // own rate-limit bucket by naming another address.
    trustProxy: config.TRUSTED_PROXY_HOPS > 0 ? (_address, hop) => hop < config.TRUSTED_PROXY_HOPS : false,
    // Problem details for unknown routes come from the not-found handler below.
    return503OnClosing: true,
  });

  const authenticator = new Authenticator(pool, config.AUTH_CACHE_SECONDS);
  // Without a cache there is nothing to invalidate; with one, it is trusted only while listening, so
  // the app serves at once and a database slow to answer LISTEN only costs uncached lookups.
  const invalidation =
    config.AUTH_CACHE_SECONDS > 0
      ? listenForKeyChanges({
          connectionString: config.DATABASE_URL,
          authenticator,
          onError: (error) =>
            app.log.warn(
              { err: error },
              "api_key_changed listener lost; auth cache bypassed until it is back",
            ),
        })
      : undefined;
  const keyUsage = new KeyUsageRecorder(pool);
  authenticator.onUse(keyUsage.record);
  keyUsage.start(config.API_KEY_LAST_USED_FLUSH_SECONDS * 1000, (error) =>
    app.log.warn({ err: error }, "api key last_used_at not written; retried at the next flush"),
  );
  app.addHook("onClose", async () => {
    await invalidation?.stop();
    await keyUsage.stop();
  });
  // The PricingModel split, read before the first quote and re-read on every change notification.
  const splits = new PricingSplits({
    pool,
    connectionString: config.DATABASE_URL,
    model: config.PRICING_MODEL,
    data: options.engine.data,
    onError: (error) =>
      app.log.warn({ err: error }, "pricing split not refreshed; pricing with the last split read"),
  });
  await splits.start();
  app.addHook("onClose", async () => splits.stop());
  const principalOf = (request: FastifyRequest): Principal => {
    if (!request.principal) throw new Error("route is missing authentication");
    return request.principal;
  };

  const quoteWrites: QuoteWriteOptions = {
    metered: config.METERING === "on",
    ttlMinutes: config.QUOTE_TTL_MINUTES,
  };
  let lastStoreWarning = 0;
  // Leases get connections of their own: queued behind slow quotes in the app's pool, a lease would
  // hold up every request of its tenant on this replica.
  const leasePool = config.RATE_LIMITING === "on" ? createPool(config.DATABASE_URL, 2) : undefined;
  app.addHook("onClose", async () => leasePool?.end());
  const rateBuckets = leasePool
    ? new LeasedBuckets({
        take: postgresTakeTokens(leasePool, {
          requestsPerSecond: config.RATE_CALCULATOR_REQUESTS_PER_SECOND,
          burst: config.RATE_CALCULATOR_BURST,
        }),
        leaseMs: config.RATE_LIMIT_LEASE_MS,
        onStoreError(error) {
          metrics.rateLimitStoreErrors.inc();
          if (Date.now() - lastStoreWarning < 10_000) return;
          lastStoreWarning = Date.now();
          app.log.warn({ err: error }, "rate-limit store unavailable; admitting requests unlimited for 1 s");
        },
      })
    : undefined;

  // The read canary's replica: connections open as canary reads need them, so an idle pool costs
  // nothing, and it may take up to the serving pool's share when the weight is 100.
  const canaryUrl = secretValue(config, "READ_CANARY_DATABASE_URL");
  const canaryPool = canaryUrl ? createPool(canaryUrl, config.DB_POOL_SIZE) : undefined;
  app.addHook("onClose", async () => canaryPool?.end());
  const readCanary = new ReadCanary({
    config,
    pool,
    replica: canaryPool,
    metrics,
    routing: () => router.cache.state,
  });
  readCanary.register(app, (request) => request.principal?.tenantId);

  // Staleness of the aggregate gauges counts from start-up: an ops connection that never works pages too.
  if (options.opsPool) metrics.aggregateGaugesLastSuccess.set(Date.now() / 1000);
  const ctx: AppContext = {
    config,
    pool,
    opsPool: options.opsPool,
    secretRotation: options.secretRotation,
    metrics,
    engine: options.engine,
    pricing: new QuotePricing(options.engine, () => splits.current()),
    authenticator,
    quoteWrites,
    activeRegion: () => router.cache.state.activeRegion,
    quoteWriter: new QuoteWriter(pool, { ...quoteWrites, ...quoteWriteLanes(config.DB_POOL_SIZE) }),
    asTenant: (request, work) => readCanary.asTenant(request, principalOf(request).tenantId, work),
    async meter(db, request, reply, meter, quantity = 1) {
      if (config.METERING === "off") return null;
      let outcome: MeterOutcome;
      try {
        outcome = await consume(db, meter, quantity);
      } catch (error) {
        if (error instanceof NoEntitlementError) throw ctx.noEntitlement(meter);
        throw error;
      }
      return ctx.settleMeter(request, reply, outcome);
    },
    settleMeter(request, reply, outcome) {
      metrics.meterDecisions.inc({ meter: outcome.meter, decision: outcome.decision });
      if (outcome.decision === "denied")
        throw meterLimitProblem(outcome, principalOf(request), config.publicBaseUrl);
      reply.header("meter-usage", meterUsageHeader(outcome));
      return outcome;
    },
    noEntitlement(meter) {
      metrics.meterDecisions.inc({ meter, decision: "denied" });
      return new Problem({
        type: "no-entitlement",
        title: "Not included in your plan",
        status: 403,
        detail: `This account has no entitlement for the ${meter} meter. Upgrade your plan or ask your account team to enable it.`,
        meter,
        upgradeUrl: `${config.publicBaseUrl}/billing/upgrade`,
      });
    },
    feature: (feature) => requireFeature({ pool, publicBaseUrl: config.publicBaseUrl }, feature),
    async limitRequestRate(reply, policy, key, wording) {
      if (!rateBuckets) return;
      const decision = await rateBuckets.admit(policy, key);
      if (decision)
        metrics.rateLimitDecisions.inc({ policy, decision: decision.allowed ? "admitted" : "denied" });
      applyRateDecision(reply, decision, wording.who, wording.fix);
    },
    async idempotent(request, reply, work) {
      const key = idempotencyKeyFrom(request.headers);
      const route = request.routeOptions.url ?? request.url;
      const stored = await ctx.asTenant(request, async (db) => {
        if (key) {
          const replay = await claimIdempotencyKey(db, key, route, requestFingerprint(route, request.body));
          if (replay) return { ...replay, replayed: true };
        }
        const response = await work(db);
        if (key) await storeIdempotentResponse(db, key, response);
        return { ...response, replayed: false };
      });
      // Never acknowledge a keyed answer the database could still lose (see idempotency.ts).
      if (key) await waitUntilDurable(pool);
      if (stored.replayed) reply.header("idempotent-replayed", "true");
      return reply.code(stored.statusCode).send(stored.body);
    },
  };

  app.decorateRequest("principal", null);

  // Before any route: the contract sees every route registered, and routes validate with their zod schemas.
  const apiContract = new ApiContract({
    title: "Freight rating API",
    version: "v1",
    description:
      "Spot quotes, bulk rating, the carrier directory, usage and billing for a freight-rating tenant.",
  });
  app.decorate("apiContract", apiContract);
  app.addHook("onRoute", apiContract.collect);
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  const observe = options.observeExchange;
  if (observe) {
    app.addHook("onSend", async (request, reply, payload) => {
      observe({
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
        headers: reply.getHeaders(),
        payload: typeof payload === "string" || Buffer.isBuffer(payload) ? payload.toString() : undefined,
      });
      return payload;
    });
  }

  app.addHook("onResponse", async (request, reply) => {
    metrics.httpRequestDuration.observe(
      {
        route: request.routeOptions.url ?? "unmatched",
        method: request.method,
        status_class: statusClass(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      new Problem({
        type: "not-found",
        title: "Not found",
        status: 404,
        detail: `There is no ${request.method} ${request.url.split("?")[0]}. See the API reference for the routes.`,
      }),
    ),
  );

  app.setErrorHandler((error: FastifyError | Problem | Error, request, reply) => {
    if (error instanceof Problem) return sendProblem(reply, error);
    const problem = frameworkProblem(error as FastifyError, request) ?? erasedSubjectProblem(error);
    if (problem) return sendProblem(reply, problem);
    request.log.error({ err: error, route: request.routeOptions.url }, "request failed");
    return sendProblem(
      reply,
      new Problem({
        type: "internal",
        title: "Internal error",
        status: 500,
        detail: "The request failed on our side and changed nothing. Retry with the same Idempotency-Key.",
      }),
    );
  });

  // Write freeze, standby writes and pinning to the primary, from the region_routing row.
  const router = new RegionRouter({
    config,
    pool,
    metrics,
    onError: (error) =>
      app.log.warn({ err: error }, "region_routing unreadable; keeping the last routing state"),
  });
  await router.start();
  app.addHook("onClose", async () => router.stop());
  const documents = documentStoreFrom(config);
  documents?.start();
  app.addHook("onClose", async () => documents?.stop());
  // At the root, not just on /v1: webhooks write too, and a write slipping past the freeze after the
  // replica caught up would be lost in the flip. The router leaves the probes and /metrics alone.
  app.addHook("onRequest", router.onRequest);
  // Every /v1 route's body, query and path values (billing's too) pass the input boundary before any
  // handler work; webhooks keep their raw bodies for signature checks.
  // A callback hook, not an async one: it runs on every request and needs no promise of its own.
  app.addHook("preValidation", (request, _reply, done) => {
    if (!request.url.startsWith("/v1/")) return done();
    try {
      inputBoundary(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  const consoleSecret = secretValue(config, "CONSOLE_SESSION_SECRET");
  const consoleSessions = consoleSecret ? new ConsoleSessions(consoleSecret) : undefined;
  const ssoOptions = {
    ctx,
    secrets: options.ssoSecrets,
    relyingParty: new OidcRelyingParty(),
    region: { name: config.REGION_NAME, peerName: config.REGION_PEER_NAME, peerUrl: config.REGION_PEER_URL },
    consoleSessions,
  };
  await app.register(healthRoutes, { ctx });
  await app.register(ssoBrowserRoutes, ssoOptions);
  await app.register(async (meta) => contractRoutes(meta, apiContract, renderReferencePage));
  await app.register(billingRoutes, { ctx, billing: options.billing, consoleSessions });
  await app.register(signupRoutes, { ctx, tenants: options.tenants });
  await app.register(rateCalculatorRoutes, { ctx });
  await app.register(alertReceiverRoutes, { ctx });
  await app.register(consoleRoutes, { ctx, sessions: consoleSessions, billing: options.billing });
  await app.register(async (api) => {
    const { region } = ssoOptions;
    api.addHook("onRequest", async (request, reply) => {
      const key = presentedKey(request.headers);
      // A console session (the web console's own pages and scripts) before an SSO one: it is the
      // tenant's admin signed in, and its writes carry the page's CSRF token.
      const consoleSession = key ? undefined : consoleSessionCookie(request);
      const session = key || consoleSession ? undefined : cookieValue(request.headers.cookie, SESSION_COOKIE);
      const principal = consoleSession
        ? await authenticateConsoleSession(pool, consoleSessions, request, consoleSession)
        : session
          ? await authenticateSession({ pool, publicBaseUrl: config.publicBaseUrl }, request, session)
          : await authenticator.authenticate(key);
      // Before any route runs: a tenant pinned elsewhere gets nothing here, not even a read.
      const elsewhere = residencyProblem(principal, region);
      if (elsewhere) throw elsewhere;
      request.principal = principal;
      const route = request.routeOptions.url ?? request.url.split("?")[0];
      requireScope(
        principal,
        requiredScope(request.method, request.routeOptions.config?.scope),
        `${request.method} ${route}`,
      );
      await ctx.limitRequestRate(reply, "tenant", `tenant:${principal.tenantId}`, {
        who: `Tenant ${principal.tenantSlug} (${principal.planId} plan)`,
        fix: "spread requests out, use bulk jobs for many lanes, or request a limit increase (POST /v1/limit-increase-requests).",
      });
    });
    api.addHook("onSend", billingStatusHeader);
    await api.register(quoteRoutes, { ctx });
    await api.register(usageRoutes, { ctx });
    await api.register(limitIncreaseRoutes, { ctx });
    await api.register(supportTicketRoutes, { ctx });
    await api.register(assistantRoutes, { ctx });
    await api.register(dataRequestRoutes, { ctx });
    await api.register(onboardingRoutes, { ctx });
    await api.register(directoryRoutes, { ctx });
    await api.register(npsRoutes, { ctx });
    await api.register(bulkJobRoutes, { ctx });
    await api.register(documentRoutes, { ctx, store: documents });
    await api.register(apiKeyRoutes, { ctx });
    await api.register(contractRateRoutes, { ctx });
    await api.register(settlementRoutes, { ctx });
    await api.register(ssoAdminRoutes, ssoOptions);
  });
  return app;
}

/** Maps Fastify's own request errors (bad JSON, too large, wrong media type) to problem details. */
function frameworkProblem(error: FastifyError, request: FastifyRequest): Problem | undefined {
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new Problem({
        type: "malformed-json",
        title: "Malformed JSON",
        status: 400,
        detail: `The body is not valid JSON (${error.message}). Send a JSON object with Content-Type: application/json.`,
      });
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new Problem({
        type: "body-too-large",
        title: "Request body too large",
        status: 413,
        detail: `Request bodies on ${request.method} ${request.routeOptions.url ?? request.url} are limited to ${(request.routeOptions.bodyLimit ?? BODY_LIMIT_BYTES) / 1024} KiB. Split the request, or use bulk jobs for many lanes.`,
      });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new Problem({
        type: "unsupported-media-type",
        title: "Unsupported media type",
        status: 415,
        detail: "Send the body as JSON with Content-Type: application/json.",
      });
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new Problem({
        type: "bad-content-length",
        title: "Bad Content-Length",
        status: 400,
        detail: "The Content-Length header does not match the body.",
      });
    default:
      break;
  }
  if (
    error instanceof SyntaxError ||
    (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
  ) {
    return new Problem({
      type: "bad-request",
      title: "Bad request",
      status: error.statusCode ?? 400,
      detail: error.message,
    });
  }
  return undefined;
}
