// Enterprise single sign-on with OpenID Connect. A tenant admin registers the tenant's identity
// provider (PUT /v1/sso/provider, API key); a user starts at GET /sso/<tenant>/login, signs in at the
// provider and comes back to GET /sso/callback, which issues a session cookie (Secure, HttpOnly,
// short-lived, stored as a hash so it can be revoked server-side). Sessions read: they are accepted
// on GET routes of /v1 (app/http/app.ts), never for writes, which keep needing an API key.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { featureProblem, residencyProblem, type RegionIdentity } from "../http/features.ts";
import { parseOrProblem, Problem } from "../http/problem.ts";
import { withTenant } from "../db/pool.ts";
import { TENANT_SSO_SECRET_PREFIX, type ClientSecrets } from "./client-secret.ts";
import type { OidcRelyingParty } from "./oidc.ts";
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

export const ssoCallbackQuery = z.object({
  state: z.string("is missing: start again at /sso/<tenant>/login").min(1).max(200),
  code: z.string().min(1).max(4096).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(1000).optional(),
});

export interface SsoOptions {
  ctx: AppContext;
  secrets?: ClientSecrets;
  relyingParty: OidcRelyingParty;
  region: RegionIdentity;
}

function ssoProblem(status: number, type: string, title: string, detail: string): Problem {
  return new Problem({ type, title, status, detail });
}

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
export const ssoAdminRoutes: FastifyPluginAsync<SsoOptions> = async (app, { ctx }) => {
  app.addHook("preHandler", ctx.feature("sso"));

  app.put("/v1/sso/provider", async (request) => {
    const body = parseOrProblem(ssoProviderBody, request.body);
    const provider = await ctx.asTenant(request, (db) => writeProvider(db, body));
    return providerView(request, request.principal!.tenantSlug, provider);
  });

  app.get("/v1/sso/provider", async (request) => {
    const provider = await ctx.asTenant(request, (db) => readProvider(db));
    if (!provider) throw notConfigured(request.principal!.tenantSlug);
    return providerView(request, request.principal!.tenantSlug, provider);
  });

  app.post("/v1/sso/sessions/revoke", async (request) => {
    const revoked = await ctx.asTenant(request, (db) => revokeAllSessions(db));
    return { revoked };
  });
};

function notConfigured(slug: string): Problem {
  return ssoProblem(
    404,
    "sso-not-configured",
    "Single sign-on not configured",
    `Tenant ${slug} has no identity provider. An admin registers one with PUT /v1/sso/provider (issuer, clientId, clientSecretRef).`,
  );
}

/** The browser-facing routes, outside /v1 (no API key): login, callback, logout. */
export const ssoBrowserRoutes: FastifyPluginAsync<SsoOptions> = async (app, options) => {
  const { ctx, relyingParty, region } = options;
  const pool = ctx.pool;
  const featureOptions = { pool, publicBaseUrl: ctx.config.publicBaseUrl };

  async function credentialsFor(tenantId: string, slug: string) {
    const provider = await withTenant(pool, tenantId, (db) => readProvider(db));
    if (!provider) throw notConfigured(slug);
    if (!options.secrets) {
      throw ssoProblem(
        503,
        "sso-unavailable",
        "Single sign-on unavailable",
        "This deployment cannot read client secrets (no AWS_REGION for Secrets Manager). Ops: set AWS_REGION on the quote API.",
      );
    }
    let clientSecret: string;
    try {
      clientSecret = await options.secrets.read(provider.clientSecretRef);
    } catch (error) {
      app.log.warn({ err: error, ref: provider.clientSecretRef }, "sso client secret unreadable");
      throw ssoProblem(
        502,
        "sso-secret-unreadable",
        "Client secret unreadable",
        `The client secret ${provider.clientSecretRef} could not be read from Secrets Manager. Store it there under that name, then sign in again.`,
      );
    }
    return { issuer: provider.issuer, clientId: provider.clientId, clientSecret };
  }

  app.get("/sso/:tenant/login", async (request, reply: FastifyReply) => {
    const { tenant: slug } = parseOrProblem(ssoLoginParams, request.params);
    const principal = await tenantBySlug(pool, slug);
    if (!principal) {
      throw ssoProblem(404, "not-found", "Not found", `There is no tenant ${slug}. Check the sign-in link.`);
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
      throw ssoProblem(
        502,
        "sso-provider-unreachable",
        "Identity provider unreachable",
        `The identity provider ${credentials.issuer} did not answer its discovery document. Check the issuer URL in PUT /v1/sso/provider.`,
      );
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

  app.get("/sso/callback", async (request, reply) => {
    const query = parseOrProblem(ssoCallbackQuery, request.query);
    if (cookieValue(request.headers.cookie, LOGIN_COOKIE) !== query.state) {
      throw ssoProblem(
        400,
        "sso-state-mismatch",
        "Sign-in started elsewhere",
        "This sign-in was not started in this browser (its state does not match the sign-in cookie). Start again at /sso/<tenant>/login.",
      );
    }
    const login = await pendingLogin(pool, query.state);
    if (!login) {
      throw ssoProblem(
        400,
        "sso-invalid-state",
        "Unknown sign-in",
        "This sign-in was not started here (unknown state). Start again at /sso/<tenant>/login.",
      );
    }
    if (login.consumed) {
      throw ssoProblem(
        409,
        "sso-login-used",
        "Sign-in already used",
        "This sign-in link was already used; a code is good once. Start again at /sso/<tenant>/login.",
      );
    }
    if (login.expired) {
      throw ssoProblem(
        400,
        "sso-login-expired",
        "Sign-in expired",
        `Sign-ins must finish within ${LOGIN_TTL_SECONDS / 60} minutes. Start again at /sso/<tenant>/login.`,
      );
    }
    if (query.error) {
      throw ssoProblem(
        401,
        "sso-denied",
        "Sign-in refused by the identity provider",
        `The identity provider answered ${query.error}${query.error_description ? ` (${query.error_description})` : ""}.`,
      );
    }
    // Used up before the exchange: a replayed callback never reaches the provider twice.
    const fresh = await withTenant(pool, login.tenantId, (db) => consumeLogin(db, query.state));
    if (!fresh) {
      throw ssoProblem(
        409,
        "sso-login-used",
        "Sign-in already used",
        "This sign-in link was already used; a code is good once. Start again at /sso/<tenant>/login.",
      );
    }
    const principal = await withTenant(pool, login.tenantId, (db) => tenantInContext(db));
    if (!principal)
      throw ssoProblem(404, "not-found", "Not found", "The tenant of this sign-in no longer exists.");
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
      throw ssoProblem(
        401,
        "sso-token-rejected",
        "Sign-in not accepted",
        `The code or ID token did not check out against ${principal.tenantSlug}'s identity provider (${(error as Error).message}). Start again at /sso/${principal.tenantSlug}/login.`,
      );
    }
    const ttlSeconds = ctx.config.SSO_SESSION_MINUTES * 60;
    const session = await withTenant(pool, principal.tenantId, (db) =>
      createSession(db, { ...user, ttlSeconds }),
    );
    reply.header("set-cookie", [
      sessionCookie(session.token, ttlSeconds),
      `${LOGIN_COOKIE}=; Path=/sso/callback; HttpOnly; Secure; SameSite=Lax; Max-Age=0`,
    ]);
    reply.header("cache-control", "no-store");
    return {
      tenant: principal.tenantSlug,
      subject: user.subject,
      email: user.email,
      expiresAt: session.expiresAt.toISOString(),
    };
  });

  app.post("/sso/logout", async (request, reply) => {
    const token = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (token) {
      const principal = await sessionPrincipal(pool, token);
      if (principal) await withTenant(pool, principal.tenantId, (db) => revokeSession(db, token));
    }
    reply.header("set-cookie", sessionCookie("", 0));
    return reply.code(204).send();
  });
};
