// The web console and the public pages, served by the quote API itself (same origin, so both regions
// serve it and a region flip moves it with the API). Pages are rendered on the server and work
// without JavaScript; one small plain ES module adds what needs a script (copy a key once, focus the
// drawer the banner opened). Signed-in pages act through the /v1 routes themselves
// (app.inject with the session cookie and CSRF token), so metering, idempotency, scopes, rate limits
// and tenant isolation are the API's own, never re-implemented here.
import { readFileSync } from "node:fs";
import formbody from "@fastify/formbody";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import type { RouteContract } from "../http/contract.ts";
import { withTenant } from "../db/pool.ts";
import { bannerText } from "../billing/routes.ts";
import type { BillingService } from "../billing/service.ts";
import { normalizeEmail } from "../signup/email-address.ts";
import { cookieValue } from "../sso/routes.ts";
import { EQUIPMENT } from "../pricing/data.ts";
import { METERS } from "../metering/meters.ts";
import { consolePrincipal } from "./auth.ts";
import { bannerFor, meterName, meterState, type Banner, type UsageMeter } from "./banner.ts";
import { count, dollars, html } from "./html.ts";
import { csrfField, page, type Frame } from "./layout.ts";
import { checkSignIn, passwordProblem, setPassword } from "./passwords.ts";
import { nextPlanUp } from "./plans.ts";
import { BULK_BODY_LIMIT_BYTES, MAX_LANES_PER_JOB } from "../jobs/bulk-jobs.ts";
import { CSV_COLUMNS } from "../jobs/lanes.ts";
import { roiInputsFrom, roiPdf, roiResults, ROI_ASSUMPTIONS, type RoiInputs } from "./roi.ts";
import {
  cookie,
  CONSOLE_COOKIE,
  CSRF_COOKIE,
  CSRF_FIELD,
  CSRF_HEADER,
  newCsrfCookieValue,
  type ConsoleSession,
  type ConsoleSessions,
} from "./session.ts";

const ASSETS = new URL("./assets/", import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, ASSETS));

/** The console's contract for the OpenAPI coverage: HTML pages, redirects and form refusals. */
function consolePage(summary: string, statuses: number[] = [200]): { config: { contract: RouteContract } } {
  const responses: RouteContract["responses"] = {};
  for (const status of statuses) {
    responses[status] =
      status === 303
        ? { description: "Redirect (after a form, or to sign in)", headers: ["Location"] }
        : status === 200 || status === 201
          ? { description: "The page", contentType: "text/html", body: z.string() }
          : { description: "The page, saying what to fix", contentType: "text/html", body: z.string() };
  }
  return { config: { contract: { summary, tag: "console", auth: "none", responses, problems: [] } } };
}

type Body = Record<string, unknown>;
type Form = Record<string, string | undefined>;

interface SignedIn {
  session: ConsoleSession;
  slug: string;
  plan: string;
  frame: (title: string, extra?: Partial<Frame>) => Promise<Frame>;
  api: <T = Body>(method: string, url: string, payload?: unknown) => Promise<{ status: number; body: T }>;
  csrf: string;
}

/** A form's number as JSON sends it (so the API's own message names what is wrong), else the text. */
const formNumber = (text: string): number | string => {
  const bare = text.replaceAll(",", "").trim();
  return /^-?\d+(\.\d+)?$/.test(bare) ? Number(bare) : text;
};

const field = (form: Form, name: string): string =>
  typeof form[name] === "string" ? form[name]!.trim() : "";

/** A problem answer's field errors as sentences ("weightLbs: must be more than 0"). */
function problemLines(body: Body): string[] {
  const errors = body.errors as { field?: string; message: string }[] | undefined;
  if (errors?.length) return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
  return [String(body.detail ?? body.title ?? "The request was refused.")];
}

export const consoleRoutes: FastifyPluginAsync<{
  ctx: AppContext;
  sessions?: ConsoleSessions;
  billing?: BillingService;
}> = async (app, { ctx, sessions, billing }) => {
  await app.register(formbody);
  const { pool, config } = ctx;
  const root = app as FastifyInstance;

  // Pages run no inline script and are framed nowhere: script a tenant typed could not run even if it
  // slipped past escaping. Forms may lead elsewhere through redirects, which form-action governs too:
  // to Stripe (Upgrade, the portal) and to a tenant's identity provider (SSO sign-in). Both are https
  // in production; plain http only where the rest of the app allows it too: an identity provider on
  // loopback (as PUT /v1/sso/provider accepts) and the Stripe endpoint this deployment is pointed at
  // (STRIPE_API_URL: the local stand-in serves its Checkout pages from that origin).
  const stripeOrigin = config.STRIPE_API_URL ? ` ${new URL(config.STRIPE_API_URL).origin}` : "";
  const csp = `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:*${stripeOrigin}; base-uri 'none'`;
  app.addHook("onSend", async (_request, reply, payload) => {
    if (String(reply.getHeader("content-type") ?? "").startsWith("text/html")) {
      reply.header("content-security-policy", csp);
      reply.header("x-content-type-options", "nosniff");
      reply.header("referrer-policy", "same-origin");
      reply.header("cache-control", "no-store");
    }
    return payload;
  });

  /** CSRF cookies handed out in this response (one per request, however many forms the page has). */
  const issuedCsrf = new WeakMap<FastifyRequest, string>();
  /** The browser's CSRF cookie (set now when it has none) and the token for its forms. */
  function csrfFor(request: FastifyRequest, reply: FastifyReply, sessionId = ""): string {
    let value = cookieValue(request.headers.cookie, CSRF_COOKIE) ?? issuedCsrf.get(request);
    if (!value) {
      value = newCsrfCookieValue();
      issuedCsrf.set(request, value);
      reply.header("set-cookie", cookie(CSRF_COOKIE, value, 30 * 24 * 3600, "Strict"));
    }
    return sessions ? sessions.csrfToken(value, sessionId) : "";
  }

  const send = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type("text/html; charset=utf-8").send(body);

  const unavailable = (reply: FastifyReply, request: FastifyRequest) =>
    send(
      reply,
      503,
      page(
        { title: "Sign-in unavailable", csrf: csrfFor(request, reply) },
        html`<p>
          Console sign-in is not set up on this deployment. Ops: give the quote API a CONSOLE_SESSION_SECRET
          (a file named by CONSOLE_SESSION_SECRET_FILE).
        </p>`,
      ),
    );

  /** Refuses a form without this browser's token: another site's form changes nothing here. */
  function formChecked(request: FastifyRequest, reply: FastifyReply, sessionId = ""): Form | undefined {
    const form = (request.body ?? {}) as Form;
    if (sessions?.csrfValid(cookieValue(request.headers.cookie, CSRF_COOKIE), sessionId, form[CSRF_FIELD]))
      return form;
    send(
      reply,
      403,
      page(
        { title: "Form expired", csrf: csrfFor(request, reply, sessionId) },
        html`<p>
          This form did not come from this page, or it expired. Nothing was changed. Go back, reload the page
          and submit it again.
        </p>`,
      ),
    );
    return undefined;
  }

  /** The signed-in tenant, or a redirect to sign in (saying why when the cookie was bad). */
  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<SignedIn | undefined> {
    if (!sessions) {
      unavailable(reply, request);
      return undefined;
    }
    const value = cookieValue(request.headers.cookie, CONSOLE_COOKIE);
    const checked = value ? sessions.check(value) : undefined;
    const principal = checked?.ok ? await consolePrincipal(pool, checked.session.tenantId) : undefined;
    if (!checked?.ok || !principal) {
      const reason = !value ? "" : checked && !checked.ok ? `?reason=${checked.reason}` : "?reason=expired";
      reply.header("set-cookie", cookie(CONSOLE_COOKIE, "", 0));
      reply.redirect(`/sign-in${reason}`, 303);
      return undefined;
    }
    const session = checked.session;
    const csrf = csrfFor(request, reply, session.id);
    const csrfCookie = cookieValue(request.headers.cookie, CSRF_COOKIE);
    const api: SignedIn["api"] = async (method, url, payload) => {
      const response = await root.inject({
        method: method as "GET",
        url,
        remoteAddress: request.ip,
        headers: {
          cookie: `${CONSOLE_COOKIE}=${value}${csrfCookie ? `; ${CSRF_COOKIE}=${csrfCookie}` : ""}`,
          ...(csrfCookie ? { [CSRF_HEADER]: sessions.csrfToken(csrfCookie, session.id) } : {}),
          ...(payload === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      });
      const text = response.body;
      return {
        status: response.statusCode,
        body: (text && text.startsWith("{") ? JSON.parse(text) : {}) as never,
      };
    };
    const frame = async (title: string, extra: Partial<Frame> = {}): Promise<Frame> => {
      const usage = await api<{ meters: UsageMeter[] }>("GET", "/v1/usage");
      const grace = await withTenant(pool, session.tenantId, async (db) => {
        const { rows } = await db.query<{ grace_ends_at: Date | null }>(
          "SELECT grace_ends_at FROM billing_accounts WHERE tenant_id = current_tenant_id()",
        );
        return rows[0]?.grace_ends_at ?? null;
      });
      const banner: Banner = usage.status === 200 ? bannerFor(usage.body.meters) : { state: "ok" };
      return {
        title,
        csrf,
        tenant: {
          slug: principal.tenantSlug,
          plan: principal.planId,
          banner,
          dunning: bannerText(principal.billingStatus, grace, config.BILLING_FREE_PLAN),
        },
        ...extra,
      };
    };
    return { session, slug: principal.tenantSlug, plan: principal.planId, frame, api, csrf };
  }

  // ---- assets -------------------------------------------------------------------------------------
  for (const [name, type] of [
    ["console.js", "text/javascript; charset=utf-8"],
    ["bulk.js", "text/javascript; charset=utf-8"],
    ["console.css", "text/css; charset=utf-8"],
  ] as const) {
    const body = asset(name);
    app.get(
      `/console/assets/${name}`,
      {
        config: {
          contract: {
            summary: `The console's ${name}`,
            tag: "console",
            auth: "none",
            responses: {
              200: { description: "The file", contentType: type.split(";")[0], body: z.string() },
            },
            problems: [],
          },
        },
      },
      async (_request, reply) => reply.type(type).header("cache-control", "public, max-age=300").send(body),
    );
  }

  // ---- sign in, sign up, verify, sign out ---------------------------------------------------------
  const signInForm = (csrf: string, email = "") =>
    html` <form method="post" action="/sign-in" class="stack">
        ${csrfField(csrf)}
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required value="${email}" />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
      <h2>Enterprise single sign-on</h2>
      <form method="get" action="/sign-in/sso" class="stack">
        <label for="tenant">Your company's account name</label>
        <input
          id="tenant"
          name="tenant"
          autocomplete="organization"
          required
          pattern="[a-z0-9][a-z0-9-]{1,62}"
        />
        <button type="submit">Continue with SSO</button>
      </form>
      <p>New here? <a href="/sign-up">Start a 14-day trial</a>.</p>`;

  const SIGN_IN_REASONS: Record<string, string> = {
    expired: "Your session expired. Sign in again.",
    tampered: "Your session was not valid. Sign in again.",
    "signed-out": "You are signed out.",
  };
  app.get("/sign-in", consolePage("Sign in to the console"), async (request, reply) => {
    const reason = (request.query as { reason?: string }).reason;
    return send(
      reply,
      200,
      page(
        {
          title: "Sign in",
          csrf: csrfFor(request, reply),
          notice: reason ? SIGN_IN_REASONS[reason] : undefined,
        },
        signInForm(csrfFor(request, reply)),
      ),
    );
  });

  app.get("/sign-in/sso", consolePage("Start an Enterprise sign-on", [303, 422]), async (request, reply) => {
    const tenant = String((request.query as { tenant?: string }).tenant ?? "")
      .trim()
      .toLowerCase();
    if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(tenant))
      return send(
        reply,
        422,
        page(
          {
            title: "Sign in",
            csrf: csrfFor(request, reply),
            errors: ["Account name: use the lower-case name your admin gave you, e.g. acme-logistics"],
          },
          signInForm(csrfFor(request, reply)),
        ),
      );
    return reply.redirect(`/sso/${tenant}/login`, 303);
  });

  app.post(
    "/sign-in",
    consolePage("Sign in with email and password", [303, 403, 422, 503]),
    async (request, reply) => {
      if (!sessions) return unavailable(reply, request);
      const form = formChecked(request, reply);
      if (!form) return reply;
      const email = normalizeEmail(field(form, "email"));
      const result = await checkSignIn(pool, email, String(form.password ?? ""));
      if (!result.ok) {
        const message =
          result.reason === "unverified"
            ? "Verify your email first: open the link we sent you (it lasts 48 hours)."
            : "That email and password do not match an account. Check both, or start a trial.";
        return send(
          reply,
          422,
          page(
            { title: "Sign in", csrf: csrfFor(request, reply), errors: [message] },
            signInForm(csrfFor(request, reply), email),
          ),
        );
      }
      const issued = sessions.issue(result.tenantId, result.email);
      reply.header("set-cookie", cookie(CONSOLE_COOKIE, issued.value, sessions.ttlSeconds));
      return reply.redirect("/console", 303);
    },
  );

  app.post("/sign-out", consolePage("Sign out", [303, 403]), async (request, reply) => {
    const value = cookieValue(request.headers.cookie, CONSOLE_COOKIE);
    const checked = value && sessions ? sessions.check(value) : undefined;
    const form = formChecked(request, reply, checked?.ok ? checked.session.id : "");
    if (!form) return reply;
    reply.header("set-cookie", cookie(CONSOLE_COOKIE, "", 0));
    return reply.redirect("/sign-in?reason=signed-out", 303);
  });

  const signUpForm = (csrf: string, plans: string[], values: Form = {}) =>
    html` <form method="post" action="/sign-up" class="stack">
      ${csrfField(csrf)}
      <label for="company">Company</label>
      <input
        id="company"
        name="company"
        autocomplete="organization"
        required
        maxlength="100"
        value="${values.company ?? ""}"
      />
      <label for="email">Work email</label>
      <input
        id="email"
        name="email"
        type="email"
        autocomplete="email"
        required
        maxlength="254"
        value="${values.email ?? ""}"
      />
      <label for="password">Password</label>
      <p id="password-hint" class="hint">At least 12 characters; a few words make a good one.</p>
      <input
        id="password"
        name="password"
        type="password"
        autocomplete="new-password"
        required
        aria-describedby="password-hint"
      />
      <label for="plan">Plan</label>
      <select id="plan" name="plan">
        ${plans.map((p) => html`<option value="${p}" ${p === (values.plan ?? "starter") ? html`selected` : null}>${p}</option>`)}
      </select>
      <button type="submit">Start my trial</button>
    </form>`;

  const planIds = async () =>
    (await pool.query<{ id: string }>("SELECT id FROM plans ORDER BY rank")).rows.map((r) => r.id);

  app.get("/sign-up", consolePage("Start a trial"), async (request, reply) => {
    const plan = (request.query as { plan?: string }).plan;
    return send(
      reply,
      200,
      page(
        { title: "Start a 14-day trial", csrf: csrfFor(request, reply) },
        signUpForm(csrfFor(request, reply), await planIds(), { plan }),
      ),
    );
  });

  app.post("/sign-up", consolePage("Sign up", [201, 403, 409, 422, 503]), async (request, reply) => {
    if (!sessions) return unavailable(reply, request);
    const form = formChecked(request, reply);
    if (!form) return reply;
    const password = String(form.password ?? "");
    const values = {
      company: field(form, "company"),
      email: field(form, "email"),
      plan: field(form, "plan"),
    };
    const weak = passwordProblem(password);
    const refuse = (status: number, errors: string[]) =>
      planIds().then((plans) =>
        send(
          reply,
          status,
          page(
            { title: "Start a 14-day trial", csrf: csrfFor(request, reply), errors },
            signUpForm(csrfFor(request, reply), plans, values),
          ),
        ),
      );
    if (weak) return refuse(422, [`password: ${weak}`]);
    const response = await root.inject({
      method: "POST",
      url: "/v1/signup",
      remoteAddress: request.ip,
      headers: { "content-type": "application/json" },
      payload: JSON.stringify(values),
    });
    const body = JSON.parse(response.body) as Body;
    if (response.statusCode !== 201) return refuse(response.statusCode, problemLines(body));
    const tenant = body.tenant as { id: string; slug: string };
    const key = body.apiKey as { key: string };
    const sentTo = (body.emailVerification as { sentTo: string }).sentTo;
    await withTenant(pool, tenant.id, (db) => setPassword(db, sentTo, password));
    return send(
      reply,
      201,
      page(
        { title: "Check your email", csrf: csrfFor(request, reply) },
        html`<p>
            We sent a link to <strong>${sentTo}</strong>. Open it to verify your address, then sign in.
          </p>
          <h2>Your first API key</h2>
          <p>Copy it now: it is shown once. It works once your email is verified.</p>
          <p class="secret">
            <code id="new-key">${key.key}</code> <button type="button" data-copy="new-key">Copy</button>
          </p>
          <p>Account name: <strong>${tenant.slug}</strong></p>`,
      ),
    );
  });

  app.get("/verify", consolePage("Verify an email address", [200, 404, 410, 422]), async (request, reply) => {
    const token = String((request.query as { token?: string }).token ?? "");
    const response = await root.inject({
      method: "GET",
      url: `/v1/signup/verify?token=${encodeURIComponent(token)}`,
      remoteAddress: request.ip,
    });
    const body = JSON.parse(response.body) as Body;
    const ok = response.statusCode === 200;
    return send(
      reply,
      ok ? 200 : response.statusCode,
      page(
        {
          title: ok ? "Email verified" : "Link not accepted",
          csrf: csrfFor(request, reply),
          ...(ok ? { notice: String(body.detail) } : { errors: problemLines(body) }),
        },
        html`<p><a href="/sign-in">Sign in to the console</a></p>`,
      ),
    );
  });

  // ---- usage, the drawer, upgrade ----------------------------------------------------------------
  const meterCard = (m: UsageMeter) => {
    const state = meterState(m);
    return html`<article
      class="meter meter-${state}"
      data-meter="${m.meter}"
      aria-labelledby="meter-${m.meter}"
    >
      <h2 id="meter-${m.meter}">${meterName(m.meter)[0]!.toUpperCase() + meterName(m.meter).slice(1)}</h2>
      <p class="used"><strong>${count(m.used)}</strong> of ${count(m.included)} included (${m.percent} %)</p>
      <progress
        max="${m.ceiling}"
        value="${Math.min(m.used, m.ceiling)}"
        aria-label="${meterName(m.meter)} used of the ceiling"
      ></progress>
      <dl>
        <dt>Ceiling</dt>
        <dd>${count(m.ceiling)} per ${m.period}</dd>
        <dt>Resets</dt>
        <dd><time datetime="${m.resetsAt}">${new Date(m.resetsAt).toUTCString()}</time></dd>
        <dt>Overage so far</dt>
        <dd>
          ${m.overage.allowed ? `${count(m.overage.units)} units, ${dollars(m.overage.billableCents)}` : m.overage.units > 0 ? `${count(m.overage.units)} units in the free grace` : "none"}
        </dd>
      </dl>
    </article>`;
  };

  interface LimitRequest {
    id: string;
    meter: string;
    requestedLimit: number;
    reason: string;
    status: string;
    createdAt: string;
    decisionReason: string | null;
  }
  const requestRows = (requests: LimitRequest[]) =>
    requests.length
      ? html`<table>
          <caption>
            Your limit-increase requests
          </caption>
          <thead>
            <tr>
              <th scope="col">Meter</th>
              <th scope="col">Asked for</th>
              <th scope="col">Reason</th>
              <th scope="col">Status</th>
              <th scope="col">Asked</th>
            </tr>
          </thead>
          <tbody>
            ${requests.map(
              (r) =>
                html`<tr data-request="${r.id}">
                  <td>${meterName(r.meter)}</td>
                  <td>${count(r.requestedLimit)}</td>
                  <td>${r.reason}</td>
                  <td class="status-${r.status}">
                    ${r.status}${r.decisionReason ? html` (${r.decisionReason})` : null}
                  </td>
                  <td>${new Date(r.createdAt).toUTCString()}</td>
                </tr>`,
            )}
          </tbody>
        </table>`
      : html`<p>No requests yet.</p>`;

  // Opened from the banner (?drawer=open), the meter field takes the keyboard without any script.
  const drawer = (csrf: string, meters: UsageMeter[], open: boolean, values: Form = {}, focus = false) =>
    html` <details id="request-increase" class="drawer" ${open ? html`open` : null}>
      <summary>Request a limit increase</summary>
      <form method="post" action="/console/limit-increase" class="stack">
        ${csrfField(csrf)}
        <label for="li-meter">Meter</label>
        <select id="li-meter" name="meter" ${focus ? html`autofocus` : null}>
          ${(meters.length ? meters.map((m) => m.meter) : [...METERS]).map(
            (m) =>
              html`<option value="${m}" ${values.meter === m ? html`selected` : null}>
                ${meterName(m)}
              </option>`,
          )}
        </select>
        <label for="li-amount">New limit per period</label>
        <input id="li-amount" name="amount" inputmode="numeric" required value="${values.amount ?? ""}" />
        <label for="li-reason">Why you need it</label>
        <textarea id="li-reason" name="reason" required minlength="3" maxlength="2000">
${values.reason ?? ""}</textarea>
        <button type="submit">Send request</button>
      </form>
    </details>`;

  async function usagePage(
    request: FastifyRequest,
    reply: FastifyReply,
    me: SignedIn,
    extra: Partial<Frame> & { status?: number; values?: Form } = {},
  ) {
    const [usage, requests] = await Promise.all([
      me.api<{ meters: UsageMeter[] }>("GET", "/v1/usage"),
      me.api<{ requests: LimitRequest[] }>("GET", "/v1/limit-increase-requests?limit=20"),
    ]);
    const meters = usage.status === 200 ? usage.body.meters : [];
    const { status = 200, values, ...frameExtra } = extra;
    const frame = await me.frame("Usage", frameExtra);
    return send(
      reply,
      status,
      page(
        frame,
        html`<p>Plan <strong>${me.plan}</strong>. <a href="/console/billing">Billing and plans</a></p>
          <div class="meters">${meters.map(meterCard)}</div>
          ${drawer(me.csrf, meters, Boolean(values) || /[?&](requested|drawer)=/.test(request.url), values, /[?&]drawer=open/.test(request.url))}
          <section aria-labelledby="requests-heading">
            <h2 id="requests-heading">Requests</h2>
            ${requestRows(requests.body.requests ?? [])}
          </section>`,
      ),
    );
  }

  app.get(
    "/console",
    consolePage("Usage: a card per meter, the banner and the request-increase drawer", [200, 303, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const requested = (request.query as { requested?: string }).requested;
      return usagePage(
        request,
        reply,
        me,
        requested
          ? { notice: "Request sent: ops will decide, and you will get an email. Its status is below." }
          : {},
      );
    },
  );

  app.post(
    "/console/limit-increase",
    consolePage("File a limit-increase request", [303, 403, 422]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const form = formChecked(request, reply, me.session.id);
      if (!form) return reply;
      const amountText = field(form, "amount").replaceAll(",", "").replaceAll("_", "");
      const values = {
        meter: field(form, "meter"),
        amount: field(form, "amount"),
        reason: String(form.reason ?? ""),
      };
      if (!/^\d+$/.test(amountText))
        return usagePage(request, reply, me, {
          status: 422,
          values,
          errors: ["New limit: must be a whole number of units, e.g. 5000"],
        });
      const created = await me.api<Body>("POST", "/v1/limit-increase-requests", {
        meter: values.meter,
        requestedLimit: Number(amountText),
        reason: values.reason,
      });
      if (created.status !== 201)
        return usagePage(request, reply, me, { status: 422, values, errors: problemLines(created.body) });
      return reply.redirect(`/console?requested=${created.body.id}#request-increase`, 303);
    },
  );

  app.get(
    "/console/billing",
    consolePage("Billing: upgrade and the billing portal", [200, 303, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const next = await nextPlanUp(pool, me.plan);
      const checkout = (request.query as { checkout?: string }).checkout;
      // Back from Checkout: the plan changes when Stripe's webhook has been applied, usually seconds later.
      const notice =
        checkout === "success"
          ? `Payment received. Your plan changes as soon as Stripe confirms it, usually within seconds: reload this page to see it.`
          : checkout === "canceled"
            ? "Checkout canceled: nothing was charged and your plan is unchanged."
            : undefined;
      return send(
        reply,
        200,
        page(
          await me.frame("Billing and plans", notice ? { notice } : {}),
          html`<p>You are on <strong data-plan="${me.plan}">${me.plan}</strong>.</p>
            ${
              next
                ? html`<section aria-labelledby="upgrade-heading">
                    <h2 id="upgrade-heading">Next plan up: ${next.name}</h2>
                    <p>${dollars(next.monthlyPriceCents)} a month. It adds:</p>
                    <ul data-plan-adds="${next.id}">
                      ${next.adds.map((line) => html`<li>${line}</li>`)}
                    </ul>
                    <form method="post" action="/console/upgrade">
                      ${csrfField(me.csrf)}
                      <button type="submit">Upgrade to ${next.name}</button>
                    </form>
                  </section>`
                : html`<p>You are on our largest self-serve plan; talk to sales for more.</p>`
            }
            <h2>Payment methods and invoices</h2>
            <form method="post" action="/console/billing-portal">
              ${csrfField(me.csrf)}<button type="submit">Open the billing portal</button>
            </form>`,
        ),
      );
    },
  );

  // Upgrade and the portal go through the billing routes (the session counts as the tenant's admin);
  // without self-serve billing here the page says whom to ask instead.
  const billingUnavailable = (reply: FastifyReply, me: SignedIn, frame: Frame) =>
    send(
      reply,
      503,
      page(
        frame,
        html`<p>
          Self-serve billing is not switched on in this deployment. Ask your account team to change your plan
          or payment method.
        </p>`,
      ),
    );

  app.post(
    "/console/upgrade",
    consolePage("Upgrade: to Stripe Checkout for the next plan up", [303, 403, 409, 422, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      if (!formChecked(request, reply, me.session.id)) return reply;
      if (!billing) return billingUnavailable(reply, me, await me.frame("Upgrade"));
      const next = await nextPlanUp(pool, me.plan);
      if (!next)
        return send(
          reply,
          409,
          page(
            await me.frame("Upgrade", {
              errors: ["You are on the largest self-serve plan; talk to sales for more."],
            }),
            html``,
          ),
        );
      const origin = config.publicBaseUrl;
      const checkout = await me.api<Body>("POST", "/v1/billing/checkout-sessions", {
        plan: next.id,
        successUrl: `${origin}/console/billing?checkout=success`,
        cancelUrl: `${origin}/console/billing?checkout=canceled`,
      });
      if (checkout.status === 409) return reply.redirect("/console/billing-portal", 307);
      if (checkout.status !== 201)
        return send(
          reply,
          422,
          page(await me.frame("Upgrade", { errors: problemLines(checkout.body) }), html``),
        );
      return reply.redirect(String(checkout.body.url), 303);
    },
  );

  app.post(
    "/console/billing-portal",
    consolePage("The Stripe billing portal (payment methods, invoices)", [303, 403, 409, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      if (!formChecked(request, reply, me.session.id)) return reply;
      if (!billing) return billingUnavailable(reply, me, await me.frame("Billing portal"));
      const portal = await me.api<Body>("POST", "/v1/billing/portal-sessions", {
        returnUrl: `${config.publicBaseUrl}/console/billing`,
      });
      if (portal.status !== 201)
        return send(
          reply,
          409,
          page(
            await me.frame("Billing portal", { errors: problemLines(portal.body) }),
            html`<p><a href="/console/billing">Upgrade first</a>: there is no billing account yet.</p>`,
          ),
        );
      return reply.redirect(String(portal.body.url), 303);
    },
  );

  // ---- bulk upload -------------------------------------------------------------------------------
  // The file goes from the browser straight to POST /v1/bulk-jobs (session cookie + X-CSRF-Token), so
  // the API's own checks (columns, size, lane count, the bulk_jobs meter, the plan's feature) answer;
  // the page's script follows the job's progress and links its results CSV. The table below is
  // rendered on the server, so reloading shows where every job stands without the script.
  interface JobView {
    id: string;
    state: string;
    lanes: { total: number; priced: number; invalid: number; pending: number };
    progress: number;
    createdAt: string;
    links: { resultsCsv: string };
  }
  const jobRows = (jobs: JobView[]) =>
    jobs.length
      ? html`<table>
          <caption>
            Your latest bulk jobs
          </caption>
          <thead>
            <tr>
              <th scope="col">Uploaded</th>
              <th scope="col">State</th>
              <th scope="col">Lanes priced</th>
              <th scope="col">Invalid</th>
              <th scope="col">Results</th>
            </tr>
          </thead>
          <tbody>
            ${jobs.map(
              (job) =>
                html`<tr data-job="${job.id}">
                  <td>${new Date(job.createdAt).toUTCString().replace(" GMT", " UTC")}</td>
                  <td>${job.state}</td>
                  <td>${count(job.lanes.priced)} of ${count(job.lanes.total)}</td>
                  <td>${count(job.lanes.invalid)}</td>
                  <td>
                    ${
                      job.state === "succeeded"
                        ? html`<a href="/v1/bulk-jobs/${job.id}/results.csv" download>Results CSV</a>`
                        : "not ready"
                    }
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>`
      : html`<p>No bulk jobs yet.</p>`;

  app.get(
    "/console/bulk",
    consolePage("Bulk upload: a CSV of lanes to price, its progress and the results CSV", [200, 303, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const jobs = await me.api<{ jobs?: JobView[]; requiredPlan?: string; type?: string }>(
        "GET",
        "/v1/bulk-jobs?limit=10",
      );
      if (jobs.status === 403 && String(jobs.body.type ?? "").endsWith("plan-feature-required")) {
        const plan = jobs.body.requiredPlan;
        return send(
          reply,
          200,
          page(
            await me.frame("Bulk upload"),
            html`<p data-feature-missing="bulkRating">
                Bulk rating is not included in the <strong>${me.plan}</strong> plan.
                ${
                  plan
                    ? html`It is included from the <strong>${plan}</strong> plan up.`
                    : "Ask your account team about it."
                }
              </p>
              ${plan ? html`<p><a href="/console/billing">Upgrade to ${plan}</a></p>` : null}`,
          ),
        );
      }
      return send(
        reply,
        200,
        page(
          await me.frame("Bulk upload", { script: "bulk.js" }),
          html`<p>
              Price many lanes at once: upload a CSV file whose first line names the columns
              <code>${CSV_COLUMNS.join(",")}</code> (in any order), then one lane per line. Up to
              ${count(MAX_LANES_PER_JOB)} lanes and ${BULK_BODY_LIMIT_BYTES / 1024 / 1024} MiB per file; each
              upload counts one bulk job.
            </p>
            <form
              id="bulk-upload"
              class="stack"
              data-csrf="${me.csrf}"
              data-max-bytes="${BULK_BODY_LIMIT_BYTES}"
              data-max-lanes="${MAX_LANES_PER_JOB}"
            >
              <label for="lanes-file">CSV file of lanes</label>
              <input id="lanes-file" name="lanes" type="file" accept=".csv,text/csv" required />
              <button type="submit">Upload and price</button>
              <noscript><p>Uploading needs JavaScript; the jobs below update when you reload.</p></noscript>
            </form>
            <div id="bulk-errors" class="errors" role="alert" tabindex="-1" hidden></div>
            <section id="bulk-progress" aria-labelledby="bulk-progress-heading" hidden>
              <h2 id="bulk-progress-heading">This upload</h2>
              <progress id="bulk-bar" max="1" value="0" aria-labelledby="bulk-progress-heading"></progress>
              <p id="bulk-status" role="status" aria-live="polite"></p>
              <p id="bulk-result" hidden></p>
            </section>
            <section aria-labelledby="jobs-heading">
              <h2 id="jobs-heading">Bulk jobs</h2>
              ${jobRows(jobs.status === 200 ? (jobs.body.jobs ?? []) : [])}
            </section>`,
        ),
      );
    },
  );

  // ---- first-run checklist -----------------------------------------------------------------------
  interface Checklist {
    complete: boolean;
    steps: { step: string; title: string; done: boolean }[];
  }
  interface QuoteView {
    id: string;
    origin: string;
    destination: string;
    equipment: string;
    totalCents: number;
    expiresAt: string;
  }
  const quoteForm = (csrf: string, values: Form = {}) =>
    html` <form method="post" action="/console/quotes" class="stack" id="quote-form">
      ${csrfField(csrf)}
      <label for="q-origin">Origin (City, ST)</label>
      <input id="q-origin" name="origin" required value="${values.origin ?? ""}" placeholder="Chicago, IL" />
      <label for="q-destination">Destination (City, ST)</label>
      <input
        id="q-destination"
        name="destination"
        required
        value="${values.destination ?? ""}"
        placeholder="Dallas, TX"
      />
      <label for="q-equipment">Equipment</label>
      <select id="q-equipment" name="equipment">
        ${EQUIPMENT.map((e) => html`<option value="${e}" ${values.equipment === e ? html`selected` : null}>${e.replace("_", " ")}</option>`)}
      </select>
      <label for="q-weight">Weight (lbs)</label>
      <input
        id="q-weight"
        name="weightLbs"
        inputmode="numeric"
        required
        value="${values.weightLbs ?? "38000"}"
      />
      <label for="q-date">Pickup date</label>
      <input
        id="q-date"
        name="pickupDate"
        type="date"
        required
        value="${values.pickupDate ?? new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}"
      />
      <button type="submit">Get a quote</button>
    </form>`;

  async function startPage(
    reply: FastifyReply,
    me: SignedIn,
    extra: { status?: number; values?: Form; quote?: QuoteView; errors?: string[]; notice?: string } = {},
  ) {
    const checklist = await me.api<Checklist>("GET", "/v1/onboarding");
    const carriers = await me.api<{ carriers: { id: string; name: string }[] }>(
      "GET",
      "/v1/directory/carriers?limit=10",
    );
    const steps = checklist.body.steps ?? [];
    const done = steps.filter((s) => s.done).length;
    return send(
      reply,
      extra.status ?? 200,
      page(
        await me.frame("Get started", { errors: extra.errors, notice: extra.notice }),
        html`<p id="progress">
            ${done} of ${steps.length} done${checklist.body.complete ? " — all set!" : ""}
          </p>
          <ol class="checklist">
            ${steps.map((s) => html`<li data-step="${s.step}" class="${s.done ? "done" : "todo"}">${s.title} <span>${s.done ? "done" : "to do"}</span></li>`)}
          </ol>
          <section aria-labelledby="quote-heading">
            <h2 id="quote-heading">Send a quote</h2>
            ${
              extra.quote
                ? html`<div class="quote" data-quote="${extra.quote.id}">
                    <p>
                      ${extra.quote.origin} to ${extra.quote.destination},
                      ${extra.quote.equipment.replace("_", " ")}:
                      <strong>${dollars(extra.quote.totalCents)}</strong> (valid until
                      ${new Date(extra.quote.expiresAt).toUTCString()})
                    </p>
                    <form method="post" action="/console/quotes/${extra.quote.id}/book">
                      ${csrfField(me.csrf)}<button type="submit">Book this load</button>
                    </form>
                  </div>`
                : null
            }
            ${quoteForm(me.csrf, extra.values)}
          </section>
          <section aria-labelledby="invite-heading">
            <h2 id="invite-heading">Invite a partner</h2>
            ${
              carriers.status === 200 && carriers.body.carriers.length
                ? html`<form method="post" action="/console/invites" class="stack">
                    ${csrfField(me.csrf)}
                    <label for="inv-carrier">Carrier</label>
                    <select id="inv-carrier" name="carrierId">
                      ${carriers.body.carriers.map((c) => html`<option value="${c.id}">${c.name}</option>`)}
                    </select>
                    <label for="inv-email">Their email</label>
                    <input id="inv-email" name="email" type="email" required />
                    <button type="submit">Send invite</button>
                  </form>`
                : html`<p>
                    ${carriers.status === 403 ? "Your plan does not include the carrier directory; upgrade to invite partners." : "No carriers in the directory yet."}
                  </p>`
            }
          </section>`,
      ),
    );
  }

  app.get(
    "/console/start",
    consolePage("The first-run checklist with the in-page quote form", [200, 303, 404, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const quoteId = (request.query as { quote?: string }).quote;
      let quote: QuoteView | undefined;
      if (quoteId) {
        const found = await me.api<QuoteView>("GET", `/v1/quotes/${encodeURIComponent(quoteId)}`);
        if (found.status !== 200)
          return startPage(reply, me, { status: 404, errors: problemLines(found.body as unknown as Body) });
        quote = found.body;
      }
      const booked = (request.query as { booked?: string }).booked;
      return startPage(reply, me, {
        quote,
        notice: booked ? "Booked: your first load is on its way." : undefined,
      });
    },
  );

  app.post(
    "/console/quotes",
    consolePage("Send a quote from the checklist", [303, 403, 422, 429]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const form = formChecked(request, reply, me.session.id);
      if (!form) return reply;
      const values = {
        origin: field(form, "origin"),
        destination: field(form, "destination"),
        equipment: field(form, "equipment"),
        weightLbs: field(form, "weightLbs"),
        pickupDate: field(form, "pickupDate"),
      };
      const weight = formNumber(values.weightLbs);
      const created = await me.api<Body>("POST", "/v1/quotes", { ...values, weightLbs: weight });
      if (created.status !== 201)
        return startPage(reply, me, {
          status: created.status === 429 ? 429 : 422,
          values,
          errors: problemLines(created.body),
        });
      return reply.redirect(`/console/start?quote=${created.body.id}#quote-heading`, 303);
    },
  );

  app.post(
    "/console/quotes/:id/book",
    consolePage("Book the quoted load", [303, 403, 404, 409, 410, 422]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      if (!formChecked(request, reply, me.session.id)) return reply;
      const id = (request.params as { id: string }).id;
      const booked = await me.api<Body>("POST", `/v1/quotes/${encodeURIComponent(id)}/book`, {});
      if (booked.status !== 201)
        return startPage(reply, me, {
          status: booked.status === 404 ? 404 : 409,
          errors: problemLines(booked.body),
        });
      return reply.redirect("/console/start?booked=1", 303);
    },
  );

  app.post(
    "/console/invites",
    consolePage("Invite a partner from the checklist", [303, 403, 409, 422]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      const form = formChecked(request, reply, me.session.id);
      if (!form) return reply;
      const sent = await me.api<Body>("POST", "/v1/directory/invites", {
        carrierId: field(form, "carrierId"),
        email: field(form, "email"),
      });
      if (sent.status !== 201)
        return startPage(reply, me, {
          status: sent.status === 409 ? 409 : 422,
          errors: problemLines(sent.body),
        });
      return reply.redirect("/console/start", 303);
    },
  );

  // ---- API keys ----------------------------------------------------------------------------------
  interface KeySummary {
    id: string;
    prefix: string;
    name: string;
    scopes: string[];
    status: string;
    lastUsedAt: string | null;
  }
  async function keysPage(
    reply: FastifyReply,
    me: SignedIn,
    extra: { status?: number; shown?: { key: string; name: string }; errors?: string[]; values?: Form } = {},
  ) {
    const keys = await me.api<{ apiKeys: KeySummary[] }>("GET", "/v1/api-keys");
    return send(
      reply,
      extra.status ?? 200,
      page(
        await me.frame("API keys", { errors: extra.errors }),
        html`${
            extra.shown
              ? html`<section class="shown-once" aria-labelledby="shown-heading">
                  <h2 id="shown-heading">Your new key “${extra.shown.name}”</h2>
                  <p>Copy it now: it is shown once and cannot be read again.</p>
                  <p class="secret">
                    <code id="new-key">${extra.shown.key}</code>
                    <button type="button" data-copy="new-key">Copy</button>
                  </p>
                </section>`
              : null
          }
          <table>
            <caption>
              Keys
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Status</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              ${(keys.body.apiKeys ?? []).map(
                (k) =>
                  html`<tr data-key="${k.id}">
                    <td>${k.name}</td>
                    <td><code>${k.prefix}…</code></td>
                    <td>${k.scopes.join(", ")}</td>
                    <td>${k.status}</td>
                    <td>${k.lastUsedAt ? new Date(k.lastUsedAt).toUTCString() : "never"}</td>
                    <td>
                      ${
                        k.status === "revoked" || k.status === "expired"
                          ? null
                          : html`<form method="post" action="/console/api-keys/${k.id}/rotate">
                                ${csrfField(me.csrf)}<button type="submit" aria-label="Rotate ${k.name}">
                                  Rotate
                                </button>
                              </form>
                              <form method="post" action="/console/api-keys/${k.id}/revoke">
                                ${csrfField(me.csrf)}<button type="submit" aria-label="Revoke ${k.name}">
                                  Revoke
                                </button>
                              </form>`
                      }
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
          <h2>Create a key</h2>
          <form method="post" action="/console/api-keys" class="stack">
            ${csrfField(me.csrf)} <label for="key-name">Name</label
            ><input id="key-name" name="name" required maxlength="100" value="${extra.values?.name ?? ""}" />
            <fieldset>
              <legend>Scopes</legend>
              <label><input type="checkbox" name="scope_read" value="on" checked /> read</label>
              <label><input type="checkbox" name="scope_quote" value="on" checked /> quote</label>
              <label><input type="checkbox" name="scope_admin" value="on" /> admin</label>
            </fieldset>
            <button type="submit">Create key</button>
          </form>`,
      ),
    );
  }

  app.get(
    "/console/api-keys",
    consolePage("API keys: create, copy once, rotate, revoke", [200, 303, 503]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      return keysPage(reply, me);
    },
  );

  app.post("/console/api-keys", consolePage("Create an API key", [201, 403, 422]), async (request, reply) => {
    const me = await signedIn(request, reply);
    if (!me) return reply;
    const form = formChecked(request, reply, me.session.id);
    if (!form) return reply;
    const scopes = ["read", "quote", "admin"].filter((s) => form[`scope_${s}`] === "on");
    const created = await me.api<Body>("POST", "/v1/api-keys", { name: field(form, "name"), scopes });
    if (created.status !== 201)
      return keysPage(reply, me, { status: 422, errors: problemLines(created.body), values: form });
    return keysPage(reply, me, {
      status: 201,
      shown: { key: String(created.body.key), name: String(created.body.name) },
    });
  });

  app.post(
    "/console/api-keys/:id/:action",
    consolePage("Rotate or revoke an API key", [201, 303, 403, 404, 409, 422]),
    async (request, reply) => {
      const me = await signedIn(request, reply);
      if (!me) return reply;
      if (!formChecked(request, reply, me.session.id)) return reply;
      const { id, action } = request.params as { id: string; action: string };
      const path = `/v1/api-keys/${encodeURIComponent(id)}`;
      if (action === "rotate") {
        const rotated = await me.api<Body>("POST", `${path}/rotate`, {});
        if (rotated.status !== 201)
          return keysPage(reply, me, {
            status: rotated.status === 404 ? 404 : 422,
            errors: problemLines(rotated.body),
          });
        return keysPage(reply, me, {
          status: 201,
          shown: { key: String(rotated.body.key), name: String(rotated.body.name) },
        });
      }
      if (action === "revoke") {
        const revoked = await me.api<Body>("DELETE", path);
        if (revoked.status !== 200)
          return keysPage(reply, me, {
            status: revoked.status === 404 ? 404 : 409,
            errors: problemLines(revoked.body),
          });
        return reply.redirect("/console/api-keys", 303);
      }
      return keysPage(reply, me, {
        status: 404,
        errors: [`There is no action '${action}' on keys: rotate or revoke.`],
      });
    },
  );

  // ---- public: rate calculator and ROI -----------------------------------------------------------
  const calculatorForm = (values: Form = {}) =>
    html` <form method="get" action="/calculator" class="stack">
      <label for="c-origin">Origin (City, ST)</label>
      <input id="c-origin" name="origin" required value="${values.origin ?? ""}" placeholder="Chicago, IL" />
      <label for="c-destination">Destination (City, ST)</label>
      <input
        id="c-destination"
        name="destination"
        required
        value="${values.destination ?? ""}"
        placeholder="Dallas, TX"
      />
      <label for="c-equipment">Equipment</label>
      <select id="c-equipment" name="equipment">
        ${EQUIPMENT.map((e) => html`<option value="${e}" ${values.equipment === e ? html`selected` : null}>${e.replace("_", " ")}</option>`)}
      </select>
      <label for="c-weight">Weight (lbs)</label>
      <input
        id="c-weight"
        name="weightLbs"
        inputmode="numeric"
        required
        value="${values.weightLbs ?? "38000"}"
      />
      <label for="c-date">Pickup date</label>
      <input
        id="c-date"
        name="pickupDate"
        type="date"
        required
        value="${values.pickupDate ?? new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}"
      />
      <button type="submit">Estimate</button>
    </form>`;

  // A GET form: the estimate is a link people can share, and the page needs no CSRF token.
  app.get(
    "/calculator",
    consolePage("The public rate calculator", [200, 422, 429]),
    async (request, reply) => {
      const query = request.query as Form;
      const csrf = csrfFor(request, reply);
      if (!query.origin) return send(reply, 200, page({ title: "Rate calculator", csrf }, calculatorForm()));
      const weight = field(query, "weightLbs").replaceAll(",", "");
      const response = await root.inject({
        method: "POST",
        url: "/v1/rate-calculator",
        remoteAddress: request.ip,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({
          origin: field(query, "origin"),
          destination: field(query, "destination"),
          equipment: field(query, "equipment"),
          weightLbs: formNumber(weight),
          pickupDate: field(query, "pickupDate"),
        }),
      });
      const body = JSON.parse(response.body) as Body;
      if (response.statusCode !== 200)
        return send(
          reply,
          response.statusCode === 429 ? 429 : 422,
          page({ title: "Rate calculator", csrf, errors: problemLines(body) }, calculatorForm(query)),
        );
      const b = body.breakdown as Record<string, number>;
      return send(
        reply,
        200,
        page(
          { title: "Rate calculator", csrf },
          html`<section class="estimate" aria-labelledby="estimate-heading">
              <h2 id="estimate-heading">
                ${String(body.origin)} to ${String(body.destination)}: ${dollars(Number(body.totalCents))}
              </h2>
              <table>
                <caption>
                  Breakdown (${count(Number(body.distanceMiles))} miles)
                </caption>
                <tbody>
                  <tr>
                    <th scope="row">Linehaul</th>
                    <td>${dollars(b.linehaulCents!)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Fuel surcharge</th>
                    <td>${dollars(b.fuelSurchargeCents!)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Margin</th>
                    <td>${dollars(b.marginCents!)}</td>
                  </tr>
                  <tr>
                    <th scope="row">Total</th>
                    <td>${dollars(Number(body.totalCents))}</td>
                  </tr>
                </tbody>
              </table>
              <p>
                <a class="cta" href="/sign-up">Start a trial</a> to quote your own lanes with your contract
                rates.
              </p>
            </section>
            ${calculatorForm(query)}`,
        ),
      );
    },
  );

  const roiForm = (values: Form = {}) =>
    html` <form method="get" action="/roi" class="stack">
      <label for="r-lanes">Lanes you quote</label
      ><input id="r-lanes" name="lanes" inputmode="numeric" required value="${values.lanes ?? ""}" />
      <label for="r-quotes">Quotes per month</label
      ><input
        id="r-quotes"
        name="quotesPerMonth"
        inputmode="numeric"
        required
        value="${values.quotesPerMonth ?? ""}"
      />
      <label for="r-rate">Average rate per load (USD)</label
      ><input
        id="r-rate"
        name="averageRate"
        inputmode="decimal"
        required
        value="${values.averageRate ?? ""}"
      />
      <label for="r-win">Win rate today (%)</label
      ><input id="r-win" name="winRate" inputmode="decimal" required value="${values.winRate ?? ""}" />
      <button type="submit">Calculate</button>
    </form>`;

  const roiTable = (inputs: RoiInputs) => {
    const r = roiResults(inputs);
    return html`<section aria-labelledby="roi-results">
      <h2 id="roi-results">Results</h2>
      <table>
        <caption>
          Per month, from your inputs
        </caption>
        <tbody>
          <tr>
            <th scope="row">Quoting hours saved</th>
            <td>${count(r.hoursSaved)} h</td>
          </tr>
          <tr>
            <th scope="row">Labour saved</th>
            <td>${dollars(r.laborSavedCents)}</td>
          </tr>
          <tr>
            <th scope="row">Extra loads won</th>
            <td>${count(r.extraLoadsWon)}</td>
          </tr>
          <tr>
            <th scope="row">Extra margin</th>
            <td>${dollars(r.extraMarginCents)}</td>
          </tr>
          <tr>
            <th scope="row">Value per year</th>
            <td>${dollars(r.annualValueCents)}</td>
          </tr>
        </tbody>
      </table>
      <h2>Assumptions</h2>
      <ul class="assumptions">
        ${ROI_ASSUMPTIONS.map((a) => html`<li>${a.text}</li>`)}
      </ul>
    </section>`;
  };

  app.get("/roi", consolePage("The ROI calculator", [200, 422]), async (request, reply) => {
    const query = request.query as Form;
    const csrf = csrfFor(request, reply);
    if (Object.keys(query).length === 0)
      return send(
        reply,
        200,
        page(
          { title: "ROI calculator", csrf },
          html`${roiForm()}
            <h2>Assumptions</h2>
            <ul class="assumptions">
              ${ROI_ASSUMPTIONS.map((a) => html`<li>${a.text}</li>`)}
            </ul>`,
        ),
      );
    const parsed = roiInputsFrom(query);
    if (!parsed.ok)
      return send(reply, 422, page({ title: "ROI calculator", csrf, errors: parsed.errors }, roiForm(query)));
    const pdfLink = `/roi.pdf?${new URLSearchParams(query as Record<string, string>).toString()}`;
    return send(
      reply,
      200,
      page(
        { title: "ROI calculator", csrf },
        html`${roiTable(parsed.inputs)}
          <p>
            <a href="${pdfLink}" download>Download as PDF</a> ·
            <a class="cta" href="/sign-up">Start a trial</a>
          </p>
          ${roiForm(query)}`,
      ),
    );
  });

  app.get(
    "/roi.pdf",
    {
      config: {
        contract: {
          summary: "The ROI calculation as a PDF (the inputs, the results and the assumptions)",
          tag: "console",
          auth: "none",
          responses: {
            200: { description: "The PDF", contentType: "application/pdf", body: z.string() },
            422: { description: "The inputs, and what to fix", contentType: "text/html", body: z.string() },
          },
          problems: [],
        },
      },
    },
    async (request, reply) => {
      const query = request.query as Form;
      const parsed = roiInputsFrom(query);
      if (!parsed.ok)
        return send(
          reply,
          422,
          page(
            { title: "ROI calculator", csrf: csrfFor(request, reply), errors: parsed.errors },
            roiForm(query),
          ),
        );
      const pdf = await roiPdf(parsed.inputs);
      return reply
        .type("application/pdf")
        .header("content-disposition", 'attachment; filename="freight-roi.pdf"')
        .send(Buffer.from(pdf));
    },
  );
};

export { CSRF_HEADER };
