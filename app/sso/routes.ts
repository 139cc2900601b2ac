// Enterprise single sign-on with OpenID Connect. A tenant admin registers the tenant's identity
// provider (PUT /v1/sso/provider, API key); a user starts at GET /sso/<tenant>/login, signs in at the
// provider and comes back to GET /sso/callback, which issues a session cookie (Secure, HttpOnly,
// short-lived, stored as a hash so it can be revoked server-side). Sessions read: they are accepted
// on GET routes of /v1 (app/http/app.ts), never for writes, which keep needing an API key. A browser
// (it asks for HTML) also gets the console's signed session and lands on /console, where writes go
// through the console's CSRF rules like a password sign-in's.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { featureProblem, residencyProblem, type RegionIdentity } from "../http/features.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { Problem } from "../http/problem.ts";
import { withTenant } from "../db/pool.ts";
import { TENANT_SSO_SECRET_PREFIX, type ClientSecrets } from "./client-secret.ts";
import type { OidcRelyingParty } from "./oidc.ts";
import { cookie as consoleCookie, CONSOLE_COOKIE, type ConsoleSessions } from "../console/session.ts";
import {
  consumeLogin,
  createSession,
  pendingLogin,
  readProvider,
  recordLogin,
  revokeAllSessions,
  revokeSession,
  sessionPrincipal,
  tenantBySlug,
  tenantInContext,
  writeProvider,
  type SsoProvider,
} from "./store.ts";

export const SESSION_COOKIE = "freight_session";
/** Binds a sign-in to the browser that started it: the callback's state must match this cookie. */
export const LOGIN_COOKIE = "freight_sso_login";
/** How long a started login may take at the provider before its state is refused. */
export const LOGIN_TTL_SECONDS = 600;

export const ssoProviderBody = z.strictObject({
  issuer: z
    .url("must be the provider's issuer URL, e.g. https://login.example.com/")
    .refine((u) => /^https:\/\//.test(u) || /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(u), {
      message: "must be an https:// URL (plain http only for a provider on this machine)",
    }),
  clientId: z.string("must be the client id the provider issued").min(1).max(255),
  clientSecretRef: z
    .string("must name the Secrets Manager secret holding the client secret")
    .regex(
      new RegExp(`^${TENANT_SSO_SECRET_PREFIX.replace(/\//g, "\\/")}[A-Za-z0-9/_+=.@-]{1,200}$`),
      `must name a Secrets Manager secret under ${TENANT_SSO_SECRET_PREFIX}, e.g. ${TENANT_SSO_SECRET_PREFIX}acme; store the client secret there, never in this request`,
    ),
});

export const ssoProviderView = z.object({
  issuer: z.string(),
  clientId: z.string(),
  clientSecretRef: z.string(),
  updatedAt: z.string(),
  loginUrl: z.string(),
  redirectUri: z.string(),
});

export const ssoLoginParams = z.strictObject({
  tenant: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, "must be a tenant slug, e.g. acme-logistics"),
});

// Loose: the provider's other parameters (iss, session_state) go on to the token check as they came.
export const ssoCallbackQuery = z.looseObject({
  state: z.string("is missing: start again at /sso/<tenant>/login").min(1).max(200),
  code: z.string().min(1).max(4096).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(1000).optional(),
});

export const ssoSessionView = z.strictObject({
  tenant: z.string(),
  subject: z.string(),
  email: z.string().nullable(),
  expiresAt: z.iso.datetime(),
});

export interface SsoOptions {
  ctx: AppContext;
  secrets?: ClientSecrets;
  relyingParty: OidcRelyingParty;
  region: RegionIdentity;
  /** The console's sessions: with them a browser's sign-in lands in the console, not on JSON. */
  consoleSessions?: ConsoleSessions;
}

/** A browser navigating (it asks for HTML); API clients and scripts ask for JSON or anything. */
const wantsPage = (request: FastifyRequest): boolean =>
  /\btext\/html\b/.test(String(request.headers.accept ?? ""));

/** Where the provider sends the browser back: the host the login came to (each regional host). */
function redirectUriOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/sso/callback`;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=") || undefined;
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
}

function providerView(request: FastifyRequest, slug: string, provider: SsoProvider) {
  const origin = `${request.protocol}://${request.host}`;
  return { ...provider, loginUrl: `${origin}/sso/${slug}/login`, redirectUri: redirectUriOf(request) };
}

/** The routes under /v1 (API key): the tenant's provider and revoking its sessions. */
export const ssoAdminRoutes: FastifyPluginAsync<SsoOptions> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  app.addHook("preHandler", ctx.feature("sso"));
  const sso = { tag: "sso", auth: "api-key" } as const;

  const putContract = documented({
    ...sso,
    summary: "Register (or replace) the tenant's OpenID Connect identity provider",
    description: "The client secret stays in Secrets Manager; the request names where (clientSecretRef).",
    body: ssoProviderBody,
    responses: { 200: { description: "The provider, and the URLs users sign in at", body: ssoProviderView } },
    problems: [],
  });
  app.put("/v1/sso/provider", putContract, async (request) => {
    const body = request.body;
    const provider = await ctx.asTenant(request, (db) => writeProvider(db, body));
    return providerView(request, request.principal!.tenantSlug, provider);
  });

  const readContract = documented({
    ...sso,
    summary: "The tenant's identity provider",
    responses: { 200: { description: "The provider", body: ssoProviderView } },
    problems: ["sso-not-configured"],
  });
  app.get("/v1/sso/provider", readContract, async (request) => {
    const provider = await ctx.asTenant(request, (db) => readProvider(db));
    if (!provider) throw notConfigured(request.principal!.tenantSlug);
    return providerView(request, request.principal!.tenantSlug, provider);
  });

  const revokeContract = documented({
    ...sso,
    summary: "Sign out every SSO session of the tenant",
    responses: {
      200: { description: "How many sessions ended", body: z.strictObject({ revoked: z.int() }) },
    },
    problems: [],
  });
  app.post("/v1/sso/sessions/revoke", revokeContract, async (request) => {
    const revoked = await ctx.asTenant(request, (db) => revokeAllSessions(db));
    return { revoked };
  });
};

function notConfigured(slug: string): Problem {
  return new Problem({
    type: "sso-not-configured",
    title: "Single sign-on not configured",
    status: 404,
    detail: `Tenant ${slug} has no identity provider. An admin registers one with PUT /v1/sso/provider (issuer, clientId, clientSecretRef).`,
  });
}

/** The browser-facing routes, outside /v1 (no API key): login, callback, logout. */
export const ssoBrowserRoutes: FastifyPluginAsync<SsoOptions> = async (plugin, options) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const { ctx, relyingParty, region } = options;
  const pool = ctx.pool;
  const featureOptions = { pool, publicBaseUrl: ctx.config.publicBaseUrl };

  async function credentialsFor(tenantId: string, slug: string) {
    const provider = await withTenant(pool, tenantId, (db) => readProvider(db));
    if (!provider) throw notConfigured(slug);
    if (!options.secrets) {
      throw new Problem({
        type: "sso-unavailable",
        title: "Single sign-on unavailable",
        status: 503,
        detail:
          "This deployment cannot read client secrets (no AWS_REGION for Secrets Manager). Ops: set AWS_REGION on the quote API.",
      });
    }
    let clientSecret: string;
    try {
      clientSecret = await options.secrets.read(provider.clientSecretRef);
    } catch (error) {
      app.log.warn({ err: error, ref: provider.clientSecretRef }, "sso client secret unreadable");
      throw new Problem({
        type: "sso-secret-unreadable",
        title: "Client secret unreadable",
        status: 502,
        detail: `The client secret ${provider.clientSecretRef} could not be read from Secrets Manager. Store it there under that name, then sign in again.`,
      });
    }
    return { issuer: provider.issuer, clientId: provider.clientId, clientSecret };
  }

  // What starting from the tenant's provider can answer, on login and again on the callback.
  const providerProblems = [
    "not-found",
    "wrong-region",
    "plan-feature-required",
    "sso-not-configured",
    "sso-unavailable",
    "sso-secret-unreadable",
  ] as const;
  const loginContract = documented({
    summary: "Start a single sign-on: redirects the browser to the tenant's identity provider",
    tag: "sso",
    auth: "none",
    params: ssoLoginParams,
    responses: { 302: { description: "To the identity provider's sign-in", headers: ["Location"] } },
    problems: [...providerProblems, "sso-provider-unreachable"],
  });
  app.get("/sso/:tenant/login", loginContract, async (request, reply: FastifyReply) => {
    const { tenant: slug } = request.params;
    const principal = await tenantBySlug(pool, slug);
    if (!principal) {
      throw new Problem({
        type: "not-found",
        title: "Not found",
        status: 404,
        detail: `There is no tenant ${slug}. Check the sign-in link.`,
      });
    }
    const elsewhere = residencyProblem(principal, region);
    if (elsewhere) throw elsewhere;
    if (!principal.features.has("sso")) throw await featureProblem(featureOptions, principal, "sso");
    const credentials = await credentialsFor(principal.tenantId, slug);
    let authorization;
    try {
      authorization = await relyingParty.authorizationRequest(credentials, redirectUriOf(request));
    } catch (error) {
      request.log.warn({ err: error, tenant: slug }, "identity provider discovery failed");
      throw new Problem({
        type: "sso-provider-unreachable",
        title: "Identity provider unreachable",
        status: 502,
        detail: `The identity provider ${credentials.issuer} did not answer its discovery document. Check the issuer URL in PUT /v1/sso/provider.`,
      });
    }
    await withTenant(pool, principal.tenantId, (db) =>
      recordLogin(db, { ...authorization, ttlSeconds: LOGIN_TTL_SECONDS }),
    );
    // Without this binding a victim's browser could be made to finish an attacker's sign-in (login CSRF).
    reply.header(
      "set-cookie",
      `${LOGIN_COOKIE}=${authorization.state}; Path=/sso/callback; HttpOnly; Secure; SameSite=Lax; Max-Age=${LOGIN_TTL_SECONDS}`,
    );
    return reply.redirect(authorization.url.href, 302);
  });

  const callbackContract = documented({
    summary: "Where the identity provider sends the browser back: sets the session cookie",
    tag: "sso",
    auth: "none",
    querystring: ssoCallbackQuery,
    responses: {
      200: { description: "Signed in: the session (cookie set)", body: ssoSessionView },
      303: {
        description: "Signed in from a browser: to the console, with its session cookie",
        headers: ["Location"],
      },
    },
    problems: [
      ...providerProblems,
      "sso-state-mismatch",
      "sso-invalid-state",
      "sso-login-used",
      "sso-login-expired",
      "sso-denied",
      "sso-token-rejected",
      // A user erased on request is not signed in again: the tombstone trigger refuses the session.
      "subject-erased-not-reimported",
    ],
  });
  app.get("/sso/callback", callbackContract, async (request, reply) => {
    const query = request.query;
    if (cookieValue(request.headers.cookie, LOGIN_COOKIE) !== query.state) {
      throw new Problem({
        type: "sso-state-mismatch",
        title: "Sign-in started elsewhere",
        status: 400,
        detail:
          "This sign-in was not started in this browser (its state does not match the sign-in cookie). Start again at /sso/<tenant>/login.",
      });
    }
    const login = await pendingLogin(pool, query.state);
    if (!login) {
      throw new Problem({
        type: "sso-invalid-state",
        title: "Unknown sign-in",
        status: 400,
        detail: "This sign-in was not started here (unknown state). Start again at /sso/<tenant>/login.",
      });
    }
    if (login.consumed) {
      throw new Problem({
        type: "sso-login-used",
        title: "Sign-in already used",
        status: 409,
        detail:
          "This sign-in link was already used; a code is good once. Start again at /sso/<tenant>/login.",
      });
    }
    if (login.expired) {
      throw new Problem({
        type: "sso-login-expired",
        title: "Sign-in expired",
        status: 400,
        detail: `Sign-ins must finish within ${LOGIN_TTL_SECONDS / 60} minutes. Start again at /sso/<tenant>/login.`,
      });
    }
    if (query.error) {
      throw new Problem({
        type: "sso-denied",
        title: "Sign-in refused by the identity provider",
        status: 401,
        detail: `The identity provider answered ${query.error}${query.error_description ? ` (${query.error_description})` : ""}.`,
      });
    }
    // Used up before the exchange: a replayed callback never reaches the provider twice.
    const fresh = await withTenant(pool, login.tenantId, (db) => consumeLogin(db, query.state));
    if (!fresh) {
      throw new Problem({
        type: "sso-login-used",
        title: "Sign-in already used",
        status: 409,
        detail:
          "This sign-in link was already used; a code is good once. Start again at /sso/<tenant>/login.",
      });
    }
    const principal = await withTenant(pool, login.tenantId, (db) => tenantInContext(db));
    if (!principal)
      throw new Problem({
        type: "not-found",
        title: "Not found",
        status: 404,
        detail: "The tenant of this sign-in no longer exists.",
      });
    const elsewhere = residencyProblem(principal, region);
    if (elsewhere) throw elsewhere;
    if (!principal.features.has("sso")) throw await featureProblem(featureOptions, principal, "sso");
    const credentials = await credentialsFor(principal.tenantId, principal.tenantSlug);
    const callbackUrl = new URL(redirectUriOf(request));
    for (const [key, value] of Object.entries(request.query as Record<string, string>)) {
      callbackUrl.searchParams.set(key, value);
    }
    let user;
    try {
      user = await relyingParty.verifyCallback(credentials, callbackUrl, { ...login, state: query.state });
    } catch (error) {
      request.log.warn({ err: error, tenant: principal.tenantSlug }, "sso code exchange refused");
      throw new Problem({
        type: "sso-token-rejected",
        title: "Sign-in not accepted",
        status: 401,
        detail: `The code or ID token did not check out against ${principal.tenantSlug}'s identity provider (${(error as Error).message}). Start again at /sso/${principal.tenantSlug}/login.`,
      });
    }
    const ttlSeconds = ctx.config.SSO_SESSION_MINUTES * 60;
    const session = await withTenant(pool, principal.tenantId, (db) =>
      createSession(db, { ...user, ttlSeconds }),
    );
    const cookies = [
      sessionCookie(session.token, ttlSeconds),
      `${LOGIN_COOKIE}=; Path=/sso/callback; HttpOnly; Secure; SameSite=Lax; Max-Age=0`,
    ];
    reply.header("cache-control", "no-store");
    // A person signing in lands in the console with the same signed session a password sign-in
    // gets (and its CSRF rules); the provider vouched for the email, so it is the session's.
    if (options.consoleSessions && wantsPage(request)) {
      const issued = options.consoleSessions.issue(principal.tenantId, user.email ?? user.subject);
      cookies.push(consoleCookie(CONSOLE_COOKIE, issued.value, options.consoleSessions.ttlSeconds));
      reply.header("set-cookie", cookies);
      return reply.redirect("/console", 303);
    }
    reply.header("set-cookie", cookies);
    return {
      tenant: principal.tenantSlug,
      subject: user.subject,
      email: user.email,
      expiresAt: session.expiresAt.toISOString(),
    };
  });

  const logoutContract = documented({
    summary: "Sign out: ends the browser's session and clears its cookie",
    tag: "sso",
    auth: "none",
    responses: { 204: { description: "Signed out (also when there was no session)" } },
    problems: [],
  });
  app.post("/sso/logout", logoutContract, async (request, reply) => {
    const token = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (token) {
      const principal = await sessionPrincipal(pool, token);
      if (principal) await withTenant(pool, principal.tenantId, (db) => revokeSession(db, token));
    }
    reply.header("set-cookie", sessionCookie("", 0));
    return reply.code(204).send();
  });
};
