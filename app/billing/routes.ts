// Billing's HTTP surface: self-serve upgrade (Checkout), the customer portal, billing status, the
// upgrade landing the 429 problem links to, and the Stripe webhook. The webhook lives in its own
// encapsulated scope with a raw-body parser, because the signature covers the exact bytes Stripe sent;
// the JSON API elsewhere keeps its parsers.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import Stripe from "stripe";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { presentedKey, requiredScope, requireScope, type Principal } from "../http/auth.ts";
import { Problem, sendProblem } from "../http/problem.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import type { BillingService } from "./service.ts";
import { isHandledEvent, processStripeEvent } from "./webhook.ts";
import { authenticateConsoleSession, consoleSessionCookie } from "../console/auth.ts";
import type { ConsoleSessions } from "../console/session.ts";

/** Webhook payloads are small; anything larger is not from Stripe. */
const WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Stripe's own default: a signature older than this is a replay of a captured request. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const SUBSCRIBED = ["active", "trialing", "past_due"];

const checkoutRequest = z.strictObject({
  plan: z.string('must name the plan to buy, e.g. "pro"').min(1),
  successUrl: z.url("must be an absolute URL").optional(),
  cancelUrl: z.url("must be an absolute URL").optional(),
});
const portalRequest = z.strictObject({ returnUrl: z.url("must be an absolute URL").optional() });
const upgradeQuery = z.object({
  plan: z.string().optional().describe("The plan to buy; the next plan up when omitted"),
  meter: z.string().optional().describe("The meter whose limit sent the caller here (from the 429 problem)"),
  checkout: z.string().optional().describe("Set by Checkout on the way back: success or canceled"),
  session_id: z.string().optional(),
});
const upgradeLandingView = z.strictObject({
  title: z.string(),
  detail: z.string(),
  meter: z.string().nullable().optional(),
  plans: z.array(z.string()).optional(),
  checkout: z.url().optional(),
});
const checkoutSession = z.strictObject({
  id: z.string(),
  url: z.url(),
  plan: z.string(),
  expiresAt: z.iso.datetime(),
});
const billingStatusView = z.strictObject({
  tenant: z.string(),
  plan: z.string(),
  billingStatus: z.string(),
  subscriptionStatus: z.string().nullable(),
  pastDueSince: z.iso.datetime().nullable(),
  graceEndsAt: z.iso.datetime().nullable(),
  features: z.array(z.string()),
  banner: z.string().nullable().describe("A sentence to show as a banner; null in good standing"),
});
const webhookAnswer = z.strictObject({
  received: z.literal(true),
  outcome: z.string().describe("What the event did: applied, duplicate, stale, ignored, malformed, ..."),
  detail: z.string().optional(),
});

interface AccountRow {
  stripe_customer_id: string;
  subscription_status: string | null;
  plan_id: string | null;
  billing_status: string | null;
  past_due_since: Date | null;
  grace_ends_at: Date | null;
  stripe_features: string[];
}

export const billingRoutes: FastifyPluginAsync<{
  ctx: AppContext;
  billing?: BillingService;
  /** The web console's sessions: its signed-in admin upgrades and opens the portal through these routes. */
  consoleSessions?: ConsoleSessions;
}> = async (plugin, { ctx, billing, consoleSessions }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const upgradeContract = documented({
    summary: "Upgrade: the landing page, or with an API key a redirect to Stripe Checkout or the portal",
    description:
      "Where the 429 problem's upgradeUrl points. Without a key (or without self-serve billing) it answers how to upgrade; with one it redirects to Checkout for the plan (the next one up by default), or to the customer portal when already subscribed.",
    tag: "billing",
    auth: "api-key-optional",
    scope: "admin",
    querystring: upgradeQuery,
    responses: {
      200: { description: "How to upgrade", body: upgradeLandingView },
      303: { description: "Redirect to Stripe Checkout or the customer portal", headers: ["Location"] },
    },
    problems: ["already-subscribed"],
  });
  app.get("/billing/upgrade", upgradeContract, async (request, reply) => {
    const query = request.query;
    if (!billing || !presentedKey(request.headers)) return upgradeLanding(ctx, billing, query);
    const principal = await ctx.authenticator.authenticate(presentedKey(request.headers));
    request.principal = principal;
    requireScope(principal, "admin", "Changing the plan");
    const plan = query.plan ?? nextPlanUp(billing, principal);
    if (!plan) return upgradeLanding(ctx, billing, query);
    const account = await findAccount(ctx, request);
    // Already paying: plan changes happen in the portal, where Stripe prorates.
    if (account?.subscription_status && SUBSCRIBED.includes(account.subscription_status)) {
      const portal = await billing.stripe.billingPortal.sessions.create({
        customer: account.stripe_customer_id,
        return_url: `${ctx.config.publicBaseUrl}/billing/upgrade`,
      });
      return reply.redirect(portal.url, 303);
    }
    const session = await startCheckout(ctx, billing, request, { plan });
    return reply.redirect(session.url, 303);
  });

  if (!billing) return;

  await app.register(async (webhook) => webhookRoute(webhook, ctx, billing));

  await app.register(async (scope) => {
    const api = scope.withTypeProvider<ZodTypeProvider>();
    api.addHook("onRequest", async (request) => {
      const consoleCookie = presentedKey(request.headers) ? undefined : consoleSessionCookie(request);
      const principal = consoleCookie
        ? await authenticateConsoleSession(ctx.pool, consoleSessions, request, consoleCookie)
        : await ctx.authenticator.authenticate(presentedKey(request.headers));
      request.principal = principal;
      // Billing is account settings: reading its status is a read, changing anything is an admin's
      // (the routes' contracts set scope: "admin").
      requireScope(
        principal,
        requiredScope(request.method, request.routeOptions.config?.scope),
        `${request.method} ${request.routeOptions.url ?? request.url}`,
      );
    });

    const checkoutContract = documented({
      summary: "Start a Stripe Checkout session for a plan",
      description:
        "An Idempotency-Key is passed on to Stripe, so a retried request gets the same session. Already subscribed tenants change plans in the portal.",
      tag: "billing",
      auth: "api-key",
      authenticatedBy: "route",
      scope: "admin",
      body: checkoutRequest,
      responses: { 201: { description: "The Checkout session to send the buyer to", body: checkoutSession } },
      problems: ["already-subscribed"],
    });
    api.post("/v1/billing/checkout-sessions", checkoutContract, async (request, reply) => {
      const body = request.body;
      const session = await startCheckout(ctx, billing, request, body);
      return reply.code(201).send(session);
    });

    const portalContract = documented({
      summary: "Open a Stripe customer portal session",
      tag: "billing",
      auth: "api-key",
      authenticatedBy: "route",
      scope: "admin",
      body: portalRequest,
      bodyOptional: true,
      responses: {
        201: { description: "The portal session", body: z.strictObject({ id: z.string(), url: z.url() }) },
      },
      problems: ["no-billing-account"],
    });
    api.post("/v1/billing/portal-sessions", portalContract, async (request, reply) => {
      const body = request.body ?? {};
      const account = await findAccount(ctx, request);
      if (!account) {
        throw new Problem({
          type: "no-billing-account",
          title: "No billing account yet",
          status: 409,
          detail:
            "This account has not subscribed yet, so there is nothing to manage. Start with POST /v1/billing/checkout-sessions.",
        });
      }
      const session = await billing.stripe.billingPortal.sessions.create({
        customer: account.stripe_customer_id,
        return_url: body.returnUrl ?? `${ctx.config.publicBaseUrl}/billing/upgrade`,
      });
      return reply.code(201).send({ id: session.id, url: session.url });
    });

    const statusContract = documented({
      summary: "The tenant's billing standing and the banner to show",
      tag: "billing",
      auth: "api-key",
      authenticatedBy: "route",
      responses: { 200: { description: "Billing status", body: billingStatusView } },
      problems: [],
    });
    api.get("/v1/billing/status", statusContract, async (request) => {
      const principal = request.principal as Principal;
      const account = await findAccount(ctx, request);
      return {
        tenant: principal.tenantSlug,
        plan: principal.planId,
        billingStatus: principal.billingStatus,
        subscriptionStatus: account?.subscription_status ?? null,
        pastDueSince: account?.past_due_since?.toISOString() ?? null,
        graceEndsAt: account?.grace_ends_at?.toISOString() ?? null,
        features: account?.stripe_features ?? [],
        banner: bannerText(
          principal.billingStatus,
          account?.grace_ends_at ?? null,
          ctx.config.BILLING_FREE_PLAN,
        ),
      };
    });
  });
};

/** The sentence a client shows as a banner, or null when billing is in good standing. */
export function bannerText(billingStatus: string, graceEndsAt: Date | null, freePlan: string): string | null {
  switch (billingStatus) {
    case "past_due":
      return graceEndsAt
        ? `Your last payment failed. Update your payment method before ${graceEndsAt.toISOString()} to keep your plan; after that the account moves to ${freePlan} limits.`
        : "Your last payment failed. Update your payment method to keep your plan.";
    case "unpaid":
      return `Payment is overdue and the account is on ${freePlan} limits. Pay the open invoice to restore your plan.`;
    case "canceled":
      return `The subscription is canceled and the account is on ${freePlan} limits. Subscribe again to restore your plan.`;
    default:
      return null;
  }
}

/** Adds `Billing-Status` to API responses of tenants not in good standing (the client's banner cue). */
export async function billingStatusHeader(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const status = request.principal?.billingStatus;
  if (status && status !== "active" && status !== "trialing") reply.header("billing-status", status);
}

async function findAccount(ctx: AppContext, request: FastifyRequest): Promise<AccountRow | undefined> {
  return ctx.asTenant(request, async (db) => {
    const { rows } = await db.query<AccountRow>(
      `SELECT stripe_customer_id, subscription_status, plan_id, billing_status, past_due_since, grace_ends_at,
              stripe_features
         FROM billing_accounts WHERE tenant_id = current_tenant_id()`,
    );
    return rows[0];
  });
}

/** The plan after the caller's in STRIPE_PRICE_PLANS, which lists plans from smallest to largest. */
function nextPlanUp(billing: BillingService, principal: Principal): string | undefined {
  const onSale = [...billing.deps.catalog.priceByPlan.keys()];
  const index = onSale.indexOf(principal.planId);
  return index >= 0 ? onSale[index + 1] : onSale.find((plan) => plan !== billing.deps.catalog.freePlan);
}

async function startCheckout(
  ctx: AppContext,
  billing: BillingService,
  request: FastifyRequest,
  body: { plan: string; successUrl?: string; cancelUrl?: string },
): Promise<{ id: string; url: string; plan: string; expiresAt: string }> {
  const principal = request.principal as Principal;
  const price = billing.deps.catalog.priceByPlan.get(body.plan);
  if (!price) {
    throw new Problem({
      type: "validation",
      title: "Invalid request",
      status: 422,
      detail: `There is no self-serve price for plan '${body.plan}'. Plans on sale: ${[...billing.deps.catalog.priceByPlan.keys()].join(", ")}.`,
      errors: [
        {
          field: "plan",
          message: `must be one of ${[...billing.deps.catalog.priceByPlan.keys()].join(", ")}`,
        },
      ],
    });
  }
  let account = await findAccount(ctx, request);
  if (account?.subscription_status && SUBSCRIBED.includes(account.subscription_status)) {
    throw new Problem({
      type: "already-subscribed",
      title: "Already subscribed",
      status: 409,
      detail: `This account already has a ${account.subscription_status} subscription (plan ${account.plan_id ?? principal.planId}). Change plans in the customer portal: POST /v1/billing/portal-sessions.`,
    });
  }
  if (!account) {
    // The key makes concurrent or retried first checkouts create one Stripe customer; the row is the guard after.
    const customer = await billing.stripe.customers.create(
      {
        name: principal.tenantSlug,
        metadata: { tenant_id: principal.tenantId, tenant_slug: principal.tenantSlug },
      },
      { idempotencyKey: `customer:${principal.tenantId}` },
    );
    account = await ctx.asTenant(request, async (db) => {
      await db.query(
        `INSERT INTO billing_accounts (tenant_id, stripe_customer_id) VALUES (current_tenant_id(), $1)
         ON CONFLICT (tenant_id) DO NOTHING`,
        [customer.id],
      );
      const { rows } = await db.query<AccountRow>(
        `SELECT stripe_customer_id, subscription_status, plan_id, billing_status, past_due_since, grace_ends_at,
                stripe_features FROM billing_accounts WHERE tenant_id = current_tenant_id()`,
      );
      return rows[0] as AccountRow;
    });
  }
  const base = ctx.config.publicBaseUrl;
  const idempotencyKey = request.headers["idempotency-key"];
  const session = await billing.stripe.checkout.sessions.create(
    {
      mode: "subscription",
      customer: account.stripe_customer_id,
      client_reference_id: principal.tenantId,
      line_items: [{ price, quantity: 1 }],
      subscription_data: { metadata: { tenant_id: principal.tenantId, tenant_slug: principal.tenantSlug } },
      metadata: { tenant_id: principal.tenantId, plan: body.plan },
      success_url:
        body.successUrl ?? `${base}/billing/upgrade?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: body.cancelUrl ?? `${base}/billing/upgrade?checkout=canceled`,
    },
    typeof idempotencyKey === "string"
      ? { idempotencyKey: `checkout:${principal.tenantId}:${idempotencyKey}` }
      : undefined,
  );
  if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a URL`);
  return {
    id: session.id,
    url: session.url,
    plan: body.plan,
    expiresAt: new Date(session.expires_at * 1000).toISOString(),
  };
}

function upgradeLanding(
  ctx: AppContext,
  billing: BillingService | undefined,
  query: z.infer<typeof upgradeQuery>,
): z.infer<typeof upgradeLandingView> {
  if (query.checkout === "success")
    return {
      title: "Thank you",
      detail:
        "Your subscription is being activated; new limits apply within seconds of Stripe confirming payment.",
    };
  if (!billing)
    return {
      title: "Upgrade your plan",
      detail:
        "Self-serve billing is not enabled on this deployment. Ask your account team to change your plan.",
    };
  return {
    title: "Upgrade your plan",
    detail:
      "Call this URL with your API key (Authorization: Bearer <key>) to be redirected to Stripe Checkout for the next plan up, " +
      'or POST /v1/billing/checkout-sessions with {"plan": "<plan>"} to get a Checkout URL.',
    meter: query.meter ?? null,
    plans: [...billing.deps.catalog.priceByPlan.keys()],
    checkout: `${ctx.config.publicBaseUrl}/v1/billing/checkout-sessions`,
  };
}

function webhookRoute(app: FastifyInstance, ctx: AppContext, billing: BillingService): void {
  // The raw bytes, whatever the content type: only this scope; the JSON API keeps its parsers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    "*",
    { parseAs: "buffer", bodyLimit: WEBHOOK_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );
  const counter = ctx.metrics.billingWebhookEvents;

  const webhookContract = documented({
    summary: "Stripe webhook endpoint",
    description:
      "Verified against Stripe-Signature (5 minutes' tolerance); events are applied once, in order per subscription. Signed but unreadable events are acknowledged without effect so Stripe stops retrying.",
    tag: "billing",
    auth: "none",
    rawBody: { contentType: "application/json", description: "A Stripe event, exactly as Stripe signed it" },
    responses: { 200: { description: "Received", body: webhookAnswer } },
    problems: ["bad-signature"],
  });
  app.post("/webhooks/stripe", webhookContract, async (request, reply) => {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const signature = request.headers["stripe-signature"];
    let event: Stripe.Event;
    try {
      event = billing.stripe.webhooks.constructEvent(
        raw,
        typeof signature === "string" ? signature : "",
        billing.webhookSecret,
        SIGNATURE_TOLERANCE_SECONDS,
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        counter.inc({ event_type: "unverified", outcome: "bad-signature" });
        request.log.warn({ reason: error.message }, "Stripe webhook refused: signature does not verify");
        return sendProblem(
          reply,
          new Problem({
            type: "bad-signature",
            title: "Signature verification failed",
            status: 400,
            detail:
              "The Stripe-Signature header does not match the body, or its timestamp is outside the tolerance. Check STRIPE_WEBHOOK_SECRET is this endpoint's signing secret.",
          }),
        );
      }
      // Signed by Stripe but not an event we can read: acknowledge so Stripe stops retrying it.
      counter.inc({ event_type: "unreadable", outcome: "malformed" });
      request.log.warn(
        { err: error },
        "Stripe webhook acknowledged without effect: body is not a readable event",
      );
      return { received: true, outcome: "malformed" };
    }
    const object = (event as { data?: { object?: unknown } }).data?.object;
    if (
      typeof event.id !== "string" ||
      typeof event.created !== "number" ||
      typeof event.type !== "string" ||
      !object ||
      typeof object !== "object"
    ) {
      counter.inc({ event_type: "unreadable", outcome: "malformed" });
      request.log.warn(
        { event: event.id },
        "Stripe webhook acknowledged without effect: event lacks id, created, type or object",
      );
      return { received: true, outcome: "malformed" };
    }
    if (!isHandledEvent(event.type)) {
      counter.inc({ event_type: "other", outcome: "ignored" });
      request.log.info(
        { event: event.id, type: event.type },
        "Stripe webhook acknowledged: event type not used",
      );
      return { received: true, outcome: "ignored" };
    }
    const result = await processStripeEvent(billing.deps, event);
    counter.inc({ event_type: event.type, outcome: result.outcome });
    request.log.info({ event: event.id, type: event.type, ...result }, "Stripe webhook processed");
    return { received: true, outcome: result.outcome, detail: result.detail };
  });
}
