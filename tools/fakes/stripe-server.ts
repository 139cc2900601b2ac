// A local Stripe API for tests and the local platform: the endpoints billing calls, answered with
// bodies shaped like Stripe's (object, id prefixes, lists, error envelopes), over plain HTTP on
// loopback. The real stripe-node client talks to it (host/port/protocol), so the wire format we send
// (form encoding, Idempotency-Key, Stripe-Version, bearer key) is what tests assert on. Like Stripe:
// an Idempotency-Key replays the first answer (and refuses different parameters), and a billing meter
// event whose identifier was already seen is accepted but not counted again.
//
// It also serves what a customer's browser sees at Stripe: a Checkout session's `url` is an HTML page
// with a Pay button, and paying creates the subscription, sends the signed `checkout.session.completed`
// webhook to the configured endpoint (Stripe's signature scheme: t=<seconds>,v1=HMAC-SHA256 of
// "<t>.<body>" with the endpoint's whsec_ secret, delivered after the redirect and retried as Stripe
// does) and redirects to the session's success_url. A portal session's `url` is a page showing the
// customer's plan and payment method, with the link back to its return_url.
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, unknown>;
  form: Record<string, unknown>;
  rawBody: string;
  headers: Record<string, string | undefined>;
}

export interface StripePrice {
  id: string;
  object: "price";
  product: string;
  lookup_key: string | null;
  unit_amount: number;
  currency: string;
  recurring: { interval: "month" | "year"; usage_type: "licensed" | "metered"; meter: string | null } | null;
  active: boolean;
  livemode: false;
  metadata: Record<string, string>;
}

export interface StripeMeterEvent {
  object: "billing.meter_event";
  event_name: string;
  identifier: string;
  payload: Record<string, string>;
  timestamp: number;
  created: number;
  livemode: false;
}

type Json = Record<string, unknown>;

/** Where Stripe sends events: the endpoint registered in the dashboard and its signing secret. */
export interface WebhookEndpoint {
  /** Asked at each delivery, so the local platform can follow the region that serves (DNS failover does in AWS). */
  url: () => string | Promise<string>;
  secret: string;
}

export interface WebhookDelivery {
  eventId: string;
  type: string;
  url: string;
  /** The endpoint's HTTP status, or 0 when it could not be reached. */
  status: number;
  attempt: number;
}

export interface LocalStripe {
  url: string;
  port: number;
  requests: RecordedRequest[];
  customers: Map<string, Json>;
  subscriptions: Map<string, Json>;
  prices: Map<string, StripePrice>;
  /** Meter events Stripe counted (after identifier dedupe). */
  meterEvents: StripeMeterEvent[];
  /** Every attempt to deliver a webhook, in order. */
  webhookDeliveries: WebhookDelivery[];
  /** Creates (or replaces) a subscription as if the customer had completed Checkout or changed plan. */
  putSubscription(input: {
    id?: string;
    customer: string;
    price: string;
    status: string;
    metadata?: Record<string, string>;
    currentPeriodEnd?: number;
    cancelAt?: number | null;
  }): Json;
  /** The next `count` requests to paths starting with `pathPrefix` fail with `status`. */
  failNext(pathPrefix: string, count: number, status?: number): void;
  requestsTo(method: string, pathPrefix: string): RecordedRequest[];
  stop(): Promise<void>;
}

const DEFAULT_PRICES: Array<[string, string, number, string]> = [
  ["price_starter_monthly", "prod_freight_starter", 9_900, "starter_monthly"],
  ["price_pro_monthly", "prod_freight_pro", 49_900, "pro_monthly"],
  ["price_enterprise_monthly", "prod_freight_enterprise", 249_900, "enterprise_monthly"],
];

const DEFAULT_METERS = ["freight_quotes_overage", "freight_bulk_jobs_overage"];

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const money = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Stripe's form encoding (`a[b][0][c]=v`) back into objects and arrays. */
export function parseStripeForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const parts = key.replace(/\]/g, "").split("[");
    let node: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, index) => {
      const last = index === parts.length - 1;
      const slot = part as keyof typeof node;
      if (last) {
        (node as Record<string, unknown>)[slot] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(parts[index + 1]!);
      const existing = (node as Record<string, unknown>)[slot];
      const child = existing ?? (nextIsIndex ? [] : {});
      (node as Record<string, unknown>)[slot] = child;
      node = child as Record<string, unknown>;
    });
  }
  return root;
}

function stripeError(res: ServerResponse, status: number, message: string, extra: Json = {}): void {
  const type =
    status === 401 ? "invalid_request_error" : status >= 500 ? "api_error" : "invalid_request_error";
  send(res, status, { error: { type, message, ...extra } });
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "request-id": id("req"),
    "stripe-version": "2026-10-28.endive",
    ...headers,
  });
  res.end(text);
}

/** Stripe-Signature for `payload`, as Stripe computes it for a webhook endpoint's secret. */
export function stripeSignature(payload: string, secret: string, timestamp = nowSeconds()): string {
  const v1 = createHmac("sha256", secret).update(`${timestamp}.${payload}`).digest("hex");
  return `t=${timestamp},v1=${v1}`;
}

/** Stripe retries a failed delivery for days; here a few quick tries cover an API still starting. */
const DELIVERY_DELAYS_MS = [0, 500, 2_000, 5_000, 10_000];

export async function startLocalStripe(
  options: { prices?: StripePrice[]; meters?: string[]; webhook?: WebhookEndpoint } = {},
): Promise<LocalStripe> {
  const requests: RecordedRequest[] = [];
  const customers = new Map<string, Json>();
  const subscriptions = new Map<string, Json>();
  const checkoutSessions = new Map<string, Json>();
  const portalSessions = new Map<string, Json>();
  const webhookDeliveries: WebhookDelivery[] = [];
  let baseUrl = "";
  let stopped = false;
  const prices = new Map<string, StripePrice>();
  const meters = new Map<string, Json>();
  const meterEvents: StripeMeterEvent[] = [];
  const seenIdentifiers = new Set<string>();
  const idempotent = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  const failures: Array<{ prefix: string; remaining: number; status: number }> = [];

  for (const [priceId, product, amount, lookup] of DEFAULT_PRICES) {
    prices.set(priceId, {
      id: priceId,
      object: "price",
      product,
      lookup_key: lookup,
      unit_amount: amount,
      currency: "usd",
      recurring: { interval: "month", usage_type: "licensed", meter: null },
      active: true,
      livemode: false,
      metadata: {},
    });
  }
  for (const price of options.prices ?? []) prices.set(price.id, price);
  for (const eventName of options.meters ?? DEFAULT_METERS) {
    const meterId = `mtr_${eventName}`;
    meters.set(meterId, {
      id: meterId,
      object: "billing.meter",
      display_name: eventName.replace(/_/g, " "),
      event_name: eventName,
      status: "active",
      default_aggregation: { formula: "sum" },
      customer_mapping: { event_payload_key: "stripe_customer_id", type: "by_id" },
      value_settings: { event_payload_key: "value" },
      created: nowSeconds(),
      livemode: false,
    });
  }

  const subscriptionBody = (input: Parameters<LocalStripe["putSubscription"]>[0]): Json => {
    const price = prices.get(input.price) ?? {
      id: input.price,
      object: "price",
      product: `prod_${input.price}`,
      lookup_key: null,
      unit_amount: 0,
      currency: "usd",
      recurring: { interval: "month", usage_type: "licensed", meter: null },
      active: true,
      livemode: false,
      metadata: {},
    };
    const subId = input.id ?? id("sub");
    const start = nowSeconds();
    const periodEnd = input.currentPeriodEnd ?? start + 30 * 86_400;
    return {
      id: subId,
      object: "subscription",
      customer: input.customer,
      status: input.status,
      metadata: input.metadata ?? {},
      cancel_at: input.cancelAt ?? null,
      cancel_at_period_end: false,
      canceled_at: input.status === "canceled" ? start : null,
      created: start,
      start_date: start,
      trial_end: input.status === "trialing" ? periodEnd : null,
      livemode: false,
      items: {
        object: "list",
        data: [
          {
            id: id("si"),
            object: "subscription_item",
            price,
            quantity: 1,
            current_period_start: start,
            current_period_end: periodEnd,
            subscription: subId,
          },
        ],
        has_more: false,
        url: `/v1/subscription_items?subscription=${subId}`,
      },
    };
  };

  /** Sends `event` to the webhook endpoint, signed, retrying as Stripe does until it answers 2xx. */
  const sendWebhook = async (event: Json): Promise<void> => {
    const endpoint = options.webhook;
    if (!endpoint) return;
    const payload = JSON.stringify(event);
    for (const [index, delay] of DELIVERY_DELAYS_MS.entries()) {
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
      if (stopped) return;
      let url = "";
      let status = 0;
      try {
        url = `${(await endpoint.url()).replace(/\/$/, "")}/webhooks/stripe`;
        const response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": stripeSignature(payload, endpoint.secret),
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
          },
          body: payload,
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      webhookDeliveries.push({
        eventId: String(event.id),
        type: String(event.type),
        url,
        status,
        attempt: index + 1,
      });
      if (status >= 200 && status < 300) return;
    }
  };

  const eventOf = (type: string, object: Json): Json => ({
    id: id("evt"),
    object: "event",
    api_version: "2026-10-28.endive",
    created: nowSeconds(),
    data: { object },
    livemode: false,
    pending_webhooks: options.webhook ? 1 : 0,
    request: { id: null, idempotency_key: null },
    type,
  });

  /** The customer pays: the subscription exists, the session completes, Stripe tells the endpoint. */
  const pay = (session: Json): Json => {
    const lineItems = (session.line_items as Json[] | undefined) ?? [];
    const subscriptionData =
      (session.subscription_data as { metadata?: Record<string, string> } | undefined) ?? {};
    const subscription = subscriptionBody({
      customer: String(session.customer),
      price: String(lineItems[0]?.price),
      status: "active",
      metadata: subscriptionData.metadata ?? (session.metadata as Record<string, string>) ?? {},
    });
    subscriptions.set(String(subscription.id), subscription);
    Object.assign(session, { status: "complete", payment_status: "paid", subscription: subscription.id });
    const { line_items: _items, subscription_data: _data, ...visible } = session;
    void sendWebhook(eventOf("checkout.session.completed", visible));
    return subscription;
  };

  const htmlPage = (res: ServerResponse, status: number, title: string, body: string): void => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}` +
        `button{font:inherit;padding:.6rem 1.2rem;background:#0a5bd3;color:#fff;border:0;border-radius:4px}a{color:#0a4ba8}` +
        `.test{background:#fff3cd;padding:.3rem .6rem;border-radius:4px}</style></head><body><main>` +
        `<p class="test">Test mode: the local Stripe stand-in. No card is charged.</p><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`,
    );
  };

  const browserPage = (res: ServerResponse, method: string, path: string): void => {
    let match: RegExpExecArray | null;
    if ((match = /^\/c\/pay\/([^/]+)$/.exec(path))) {
      const session = checkoutSessions.get(match[1]!);
      if (!session)
        return htmlPage(
          res,
          404,
          "Checkout not found",
          "<p>This checkout link does not exist. Start the upgrade again from the console.</p>",
        );
      const successUrl = String(session.success_url).replace("{CHECKOUT_SESSION_ID}", String(session.id));
      if (method === "POST") {
        if (session.status === "open") pay(session);
        res.writeHead(303, { location: successUrl });
        return void res.end();
      }
      if (session.status !== "open")
        return htmlPage(
          res,
          200,
          "Already paid",
          `<p>This checkout is complete.</p><p><a href="${escapeHtml(successUrl)}">Return to the merchant</a></p>`,
        );
      const items = ((session.line_items as Json[] | undefined) ?? []).map((item) =>
        prices.get(String(item.price)),
      );
      const total = items.reduce((sum, price) => sum + (price?.unit_amount ?? 0), 0);
      const customer = customers.get(String(session.customer));
      return htmlPage(
        res,
        200,
        "Subscribe",
        `<ul>${items.map((price) => `<li>${escapeHtml(price?.lookup_key ?? price?.id ?? "")}: ${money(price?.unit_amount ?? 0)} a month</li>`).join("")}</ul>` +
          `<p>Billed to ${escapeHtml(String(customer?.email ?? session.customer ?? ""))}, card 4242 4242 4242 4242.</p>` +
          `<form method="post"><button type="submit">Pay ${money(total)}</button></form>` +
          (session.cancel_url
            ? `<p><a href="${escapeHtml(String(session.cancel_url))}">Cancel and go back</a></p>`
            : ""),
      );
    }
    if (method === "GET" && (match = /^\/p\/session\/([^/]+)$/.exec(path))) {
      const portal = portalSessions.get(match[1]!);
      if (!portal)
        return htmlPage(
          res,
          404,
          "Billing portal session not found",
          "<p>This portal link does not exist or expired. Open the portal again from the console.</p>",
        );
      const customer = customers.get(String(portal.customer));
      const own = [...subscriptions.values()].filter((sub) => sub.customer === portal.customer);
      const rows = own.map((sub) => {
        const price = (sub.items as { data: { price: StripePrice }[] }).data[0]?.price;
        return `<li>${escapeHtml(price?.lookup_key ?? price?.id ?? "")} (${escapeHtml(String(sub.status))}): ${money(price?.unit_amount ?? 0)} a month</li>`;
      });
      return htmlPage(
        res,
        200,
        "Billing portal",
        `<p>${escapeHtml(String(customer?.email ?? portal.customer))}</p>` +
          `<h2>Current plan</h2><ul>${rows.join("") || "<li>No subscription</li>"}</ul>` +
          `<h2>Payment method</h2><p>Visa ending in 4242, expires 12/2034 (test card)</p>` +
          (portal.return_url
            ? `<p><a href="${escapeHtml(String(portal.return_url))}">Return to the merchant</a></p>`
            : ""),
      );
    }
    return htmlPage(res, 404, "Not found", `<p>Nothing at ${escapeHtml(path)}.</p>`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, rawBody: string): void => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = req.method ?? "GET";
    const form = method === "GET" ? {} : parseStripeForm(rawBody);
    const query = parseStripeForm(url.searchParams.toString());
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    requests.push({
      method,
      path,
      query,
      form,
      rawBody,
      headers: {
        authorization: header("authorization"),
        "content-type": header("content-type"),
        "idempotency-key": header("idempotency-key"),
        "stripe-version": header("stripe-version"),
        "user-agent": header("user-agent"),
      },
    });

    // What a customer's browser opens (no API key): Checkout and the customer portal.
    if (!path.startsWith("/v1/")) return browserPage(res, method, path);

    if (!/^Bearer (sk|rk)_/.test(header("authorization") ?? "")) {
      return stripeError(res, 401, "Invalid API Key provided. Send Authorization: Bearer sk_...");
    }
    const failure = failures.find((f) => path.startsWith(f.prefix) && f.remaining > 0);
    if (failure) {
      failure.remaining--;
      return stripeError(
        res,
        failure.status,
        "An error occurred with our connection to Stripe. Request was retried.",
      );
    }

    const key = header("idempotency-key");
    const fingerprint = `${method} ${path} ${rawBody}`;
    if (key && method === "POST") {
      const seen = idempotent.get(key);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          return stripeError(
            res,
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            { code: "idempotency_key_in_use" },
          );
        }
        return send(res, seen.status, seen.body, { "idempotent-replayed": "true" });
      }
    }
    const respond = (status: number, body: unknown) => {
      if (key && method === "POST" && status < 500) idempotent.set(key, { fingerprint, status, body });
      send(res, status, body);
    };

    let match: RegExpExecArray | null;
    if (method === "POST" && path === "/v1/customers") {
      const customer = {
        id: id("cus"),
        object: "customer",
        email: form.email ?? null,
        name: form.name ?? null,
        metadata: form.metadata ?? {},
        created: nowSeconds(),
        livemode: false,
      };
      customers.set(customer.id, customer);
      return respond(200, customer);
    }
    if (method === "GET" && (match = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
      const customer = customers.get(match[1]!);
      if (!customer)
        return stripeError(res, 404, `No such customer: '${match[1]}'`, {
          code: "resource_missing",
          param: "id",
        });
      return respond(200, customer);
    }
    if (method === "POST" && path === "/v1/checkout/sessions") {
      const lineItems = (form.line_items as Json[] | undefined) ?? [];
      if (!lineItems.length)
        return stripeError(res, 400, "Missing required param: line_items.", { param: "line_items" });
      for (const item of lineItems) {
        if (!prices.has(String(item.price)))
          return stripeError(res, 400, `No such price: '${String(item.price)}'`, {
            code: "resource_missing",
            param: "line_items[0][price]",
          });
      }
      if (!form.success_url)
        return stripeError(res, 400, "Missing required param: success_url.", { param: "success_url" });
      const sessionId = `cs_test_${randomBytes(24).toString("hex")}`;
      const session = {
        id: sessionId,
        object: "checkout.session",
        mode: form.mode,
        customer: form.customer ?? null,
        client_reference_id: form.client_reference_id ?? null,
        metadata: form.metadata ?? {},
        status: "open",
        payment_status: "unpaid",
        subscription: null,
        success_url: form.success_url,
        cancel_url: form.cancel_url ?? null,
        url: `${baseUrl}/c/pay/${sessionId}`,
        created: nowSeconds(),
        expires_at: nowSeconds() + 86_400,
        livemode: false,
      };
      checkoutSessions.set(sessionId, {
        ...session,
        line_items: lineItems,
        subscription_data: form.subscription_data,
      });
      return respond(200, session);
    }
    if (method === "POST" && path === "/v1/billing_portal/sessions") {
      if (!form.customer)
        return stripeError(res, 400, "Missing required param: customer.", { param: "customer" });
      if (!customers.has(String(form.customer)))
        return stripeError(res, 400, `No such customer: '${String(form.customer)}'`, {
          code: "resource_missing",
          param: "customer",
        });
      const sessionId = id("bps");
      const portal = {
        id: sessionId,
        object: "billing_portal.session",
        customer: form.customer,
        return_url: form.return_url ?? null,
        url: `${baseUrl}/p/session/${sessionId}`,
        created: nowSeconds(),
        livemode: false,
      };
      portalSessions.set(sessionId, portal);
      return respond(200, portal);
    }
    if (method === "GET" && (match = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      const subscription = subscriptions.get(match[1]!);
      if (!subscription)
        return stripeError(res, 404, `No such subscription: '${match[1]}'`, {
          code: "resource_missing",
          param: "id",
        });
      return respond(200, subscription);
    }
    if (method === "GET" && (match = /^\/v1\/prices\/([^/]+)$/.exec(path))) {
      const price = prices.get(match[1]!);
      if (!price)
        return stripeError(res, 404, `No such price: '${match[1]}'`, {
          code: "resource_missing",
          param: "price",
        });
      return respond(200, price);
    }
    if (method === "GET" && path === "/v1/prices") {
      return respond(200, { object: "list", data: [...prices.values()], has_more: false, url: "/v1/prices" });
    }
    if (method === "POST" && path === "/v1/billing/meter_events") {
      const eventName = String(form.event_name ?? "");
      const payload = (form.payload as Record<string, string> | undefined) ?? {};
      if (![...meters.values()].some((m) => m.event_name === eventName))
        return stripeError(res, 400, `No active meter was found for event_name '${eventName}'.`, {
          param: "event_name",
        });
      if (!payload.stripe_customer_id || !customers.has(payload.stripe_customer_id))
        return stripeError(res, 400, `No such customer: '${payload.stripe_customer_id ?? ""}'`, {
          param: "payload[stripe_customer_id]",
        });
      if (!/^\d+$/.test(payload.value ?? ""))
        return stripeError(res, 400, "payload[value] must be a whole number.", { param: "payload[value]" });
      const timestamp = form.timestamp ? Number(form.timestamp) : nowSeconds();
      if (timestamp < nowSeconds() - 35 * 86_400 || timestamp > nowSeconds() + 5 * 60)
        return stripeError(
          res,
          400,
          "timestamp must be within the past 35 days and at most 5 minutes into the future.",
          { param: "timestamp" },
        );
      const event: StripeMeterEvent = {
        object: "billing.meter_event",
        event_name: eventName,
        identifier: String(form.identifier ?? id("mev")),
        payload,
        timestamp,
        created: nowSeconds(),
        livemode: false,
      };
      // Stripe enforces identifier uniqueness and drops the duplicate; the request still succeeds.
      if (!seenIdentifiers.has(event.identifier)) {
        seenIdentifiers.add(event.identifier);
        meterEvents.push(event);
      }
      return respond(200, event);
    }
    if (method === "GET" && path === "/v1/billing/meters") {
      return respond(200, {
        object: "list",
        data: [...meters.values()],
        has_more: false,
        url: "/v1/billing/meters",
      });
    }
    if (method === "GET" && (match = /^\/v1\/billing\/meters\/([^/]+)\/event_summaries$/.exec(path))) {
      const meter = meters.get(match[1]!);
      if (!meter)
        return stripeError(res, 404, `No such billing meter: '${match[1]}'`, { code: "resource_missing" });
      const customer = String(query.customer ?? "");
      const start = Number(query.start_time);
      const end = Number(query.end_time);
      if (!customer || !Number.isFinite(start) || !Number.isFinite(end))
        return stripeError(res, 400, "customer, start_time and end_time are required.");
      const value = meterEvents
        .filter(
          (e) =>
            e.event_name === meter.event_name &&
            e.payload.stripe_customer_id === customer &&
            e.timestamp >= start &&
            e.timestamp < end,
        )
        .reduce((sum, e) => sum + Number(e.payload.value), 0);
      return respond(200, {
        object: "list",
        data: [
          {
            id: id("mtrusg"),
            object: "billing.meter_event_summary",
            aggregated_value: value,
            start_time: start,
            end_time: end,
            meter: meter.id,
            livemode: false,
          },
        ],
        has_more: false,
        url: path,
      });
    }
    return stripeError(res, 404, `Unrecognized request URL (${method}: ${path}).`);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    customers,
    subscriptions,
    prices,
    meterEvents,
    webhookDeliveries,
    putSubscription(input) {
      const body = subscriptionBody(input);
      subscriptions.set(String(body.id), body);
      return body;
    },
    failNext(prefix, count, status = 500) {
      failures.push({ prefix, remaining: count, status });
    },
    requestsTo(method, prefix) {
      return requests.filter((r) => r.method === method && r.path.startsWith(prefix));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
