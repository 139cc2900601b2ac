// Self-serve signup (anonymous): a company, an email and a plan become a trialing tenant with a first
// API key that works once the email is verified. One transaction claims the company slug
// (tenants.slug) and the address (signups.email), both unique, so a duplicate, even a concurrent one,
// fails with 409 and nothing is created twice; the Tenant object is created on the control plane last,
// still inside that transaction, so a refused or failed create leaves no row behind. The tenant row is
// written here (the key and the link need its id) under the slug the tenant controller adopts when it
// provisions the plan's limits from the Tenant. The verification link is a single-use token stored
// hashed, mailed by the runner (signup_verification agent task).
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { transaction, withTenant, type Db } from "../db/pool.ts";
import type { AppContext } from "../http/app.ts";
import { SCOPES } from "../http/auth.ts";
import { isUnavailable } from "../../operators/runtime/kube.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { Problem, validationProblem } from "../http/problem.ts";
import { emailProblem, normalizeEmail } from "../signup/email-address.ts";
import type { TenantRegistrar } from "../signup/tenant-registrar.ts";
import { apiKeyCreatedResponse, insertApiKey } from "./api-keys.ts";

export const TRIAL_DAYS = 14;
export const VERIFICATION_TTL_HOURS = 48;
const TOKEN_PATTERN = /^ev_[A-Za-z0-9_-]{43}$/;

export const signupRequest = z.strictObject({
  company: z.string("must name your company").trim().min(2, "must be at least 2 characters").max(100),
  email: z.string("must be the email address to verify").max(254).transform(normalizeEmail),
  plan: z.string('must name a plan, e.g. "starter"').trim().min(1, "must not be empty").max(63),
});

export const signupResponse = z.object({
  tenant: z.object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    plan: z.string(),
    billingStatus: z.literal("trialing"),
    trialEndsAt: z.iso.datetime(),
  }),
  apiKey: apiKeyCreatedResponse,
  emailVerification: z.object({ sentTo: z.string(), expiresAt: z.iso.datetime() }),
});

export const verifyEmailQuery = z.strictObject({
  token: z
    .string("must be the token from the link we emailed")
    .regex(TOKEN_PATTERN, "is not a verification token; open the link from the email as it is"),
});
export const verifyEmailResponse = z.object({
  verified: z.literal(true),
  tenant: z.string(),
  email: z.string(),
  detail: z.string(),
});

export const resendVerificationRequest = z.strictObject({
  email: z.string("must be the address you signed up with").max(254).transform(normalizeEmail),
});
export const resendVerificationResponse = z.object({ sentTo: z.string(), expiresAt: z.iso.datetime() });

/** A company name as a tenant slug: lower case, dashes between words (tenants.slug's pattern). */
export function companySlug(company: string): string {
  return company
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
}

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

/** A new verification link for the transaction's tenant, queued for the runner to mail. */
async function queueVerification(
  db: Db,
  tenantId: string,
  publicBaseUrl: string,
): Promise<{ expiresAt: string }> {
  const token = `ev_${randomBytes(32).toString("base64url")}`;
  const { rows } = await db.query<{ id: string; expires_at: Date }>(
    `INSERT INTO email_verifications (tenant_id, token_hash, expires_at)
     VALUES ($1, decode($2, 'hex'), now() + make_interval(hours => $3)) RETURNING id, expires_at`,
    [tenantId, hashToken(token), VERIFICATION_TTL_HOURS],
  );
  const verification = rows[0]!;
  await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key) VALUES ($1, 'signup_verification', $2, $3)`,
    [
      tenantId,
      {
        verifyUrl: `${publicBaseUrl}/v1/signup/verify?token=${token}`,
        expiresAt: verification.expires_at.toISOString(),
      },
      `signup-verification:${verification.id}`,
    ],
  );
  return { expiresAt: verification.expires_at.toISOString() };
}

function duplicate(what: "email" | "company", value: string): Problem {
  return what === "email"
    ? new Problem({
        type: "signup-email-taken",
        title: "Email already signed up",
        status: 409,
        detail: `${value} has already signed up. Use that account's API key, or ask for a new verification email with POST /v1/signup/verification-email.`,
      })
    : new Problem({
        type: "signup-company-taken",
        title: "Company already has an account",
        status: 409,
        detail: `An account for '${value}' exists. Ask its admin for an API key, or sign up under a more specific company name.`,
      });
}

function violated(error: unknown): string | undefined {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === "23505" ? pgError.constraint : undefined;
}

export const signupRoutes: FastifyPluginAsync<{ ctx: AppContext; tenants?: TenantRegistrar }> = async (
  plugin,
  { ctx, tenants },
) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const { pool, config } = ctx;

  const signupContract = documented({
    summary: "Sign up: a tenant on a 14-day trial and its first API key (works once the email is verified)",
    tag: "signup",
    auth: "none",
    body: signupRequest,
    responses: {
      201: {
        description: "The tenant, its first key (shown once) and the verification email",
        body: signupResponse,
      },
    },
    problems: ["signup-email-taken", "signup-company-taken", "signup-unavailable"],
  });
  app.post("/v1/signup", signupContract, async (request, reply) => {
    const body = request.body;
    const slug = companySlug(body.company);
    const fieldErrors = [
      ...(/^[a-z0-9][a-z0-9-]{1,62}$/.test(slug)
        ? []
        : [{ field: "company", message: "must contain at least 2 letters or digits" }]),
      ...((problem) => (problem ? [{ field: "email", message: problem }] : []))(emailProblem(body.email)),
    ];
    if (fieldErrors.length) throw validationProblem(fieldErrors);
    if (!tenants) {
      throw new Problem({
        type: "signup-unavailable",
        title: "Signup is not available here",
        status: 503,
        detail:
          "This deployment has no control plane to create tenants on (neither KUBECONFIG nor KUBERNETES_API=in-cluster). Contact sales.",
      });
    }
    const { rows: plans } = await pool.query<{ id: string }>("SELECT id FROM plans ORDER BY rank");
    if (!plans.some((p) => p.id === body.plan))
      throw validationProblem([
        { field: "plan", message: `must be one of ${plans.map((p) => p.id).join(", ")}; got '${body.plan}'` },
      ]);

    const tenantId = randomUUID();
    try {
      const created = await withTenant(pool, tenantId, async (db) => {
        const { rows } = await db.query<{ trial_ends_at: Date }>(
          `INSERT INTO tenants (id, slug, name, plan_id, billing_status, trial_ends_at)
           VALUES ($1, $2, $3, $4, 'trialing', now() + make_interval(days => $5)) RETURNING trial_ends_at`,
          [tenantId, slug, body.company, body.plan, TRIAL_DAYS],
        );
        await db.query("INSERT INTO signups (tenant_id, email, plan_requested) VALUES ($1, $2, $3)", [
          tenantId,
          body.email,
          body.plan,
        ]);
        const apiKey = await insertApiKey(db, tenantId, {
          name: "first key",
          scopes: SCOPES,
          awaitingVerification: true,
        });
        const verification = await queueVerification(db, tenantId, config.publicBaseUrl);
        // Last, so a duplicate found above never reaches the control plane.
        const registered = await tenants.register(
          slug,
          { displayName: body.company, plan: body.plan },
          tenantId,
        );
        if (registered === "exists") throw duplicate("company", body.company);
        return { trialEndsAt: rows[0]!.trial_ends_at.toISOString(), apiKey, verification };
      });
      request.log.info({ tenant: slug, plan: body.plan }, "tenant signed up");
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send({
          tenant: {
            id: tenantId,
            slug,
            name: body.company,
            plan: body.plan,
            billingStatus: "trialing",
            trialEndsAt: created.trialEndsAt,
          },
          apiKey: created.apiKey,
          emailVerification: { sentTo: body.email, expiresAt: created.verification.expiresAt },
        } satisfies z.infer<typeof signupResponse>);
    } catch (error) {
      const constraint = violated(error);
      if (constraint === "signups_email") throw duplicate("email", body.email);
      if (constraint === "tenants_slug_key") throw duplicate("company", body.company);
      if (isUnavailable(error)) {
        request.log.warn({ err: error, tenant: slug }, "signup: the control plane did not answer");
        throw new Problem(
          {
            type: "signup-unavailable",
            title: "Signup is briefly unavailable",
            status: 503,
            detail:
              "We could not reach the service that creates accounts, even after retrying; nothing was created. Try again in a minute.",
          },
          { "retry-after": "30" },
        );
      }
      throw error;
    }
  });

  const verifyContract = documented({
    summary: "Verify a signup's email address (the link we emailed)",
    tag: "signup",
    auth: "none",
    querystring: verifyEmailQuery,
    responses: {
      200: { description: "Verified: the signup's API key works now", body: verifyEmailResponse },
      303: {
        description: "A browser (Accept: text/html) goes to the console's page for the link",
        headers: ["Location"],
      },
    },
    problems: ["verification-link-unknown", "verification-link-used", "verification-link-expired"],
  });
  app.get("/v1/signup/verify", verifyContract, async (request, reply) => {
    const { token } = request.query;
    // The emailed link opened in a browser: the console's page verifies it and says so in words.
    if (/\btext\/html\b/.test(request.headers.accept ?? ""))
      return reply.redirect(`/verify?token=${token}`, 303);
    return transaction(pool, async (db) => {
      await db.query("SELECT set_config('app.verification_token_hash', $1, true)", [hashToken(token)]);
      const { rows } = await db.query<{
        id: string;
        tenant_id: string;
        expires_at: Date;
        used_at: Date | null;
        expired: boolean;
      }>(
        `SELECT id, tenant_id, expires_at, used_at, expires_at <= now() AS expired
           FROM email_verifications WHERE token_hash = decode($1, 'hex')`,
        [hashToken(token)],
      );
      const link = rows[0];
      if (!link)
        throw new Problem({
          type: "verification-link-unknown",
          title: "Unknown verification link",
          status: 404,
          detail:
            "This link is not one we sent, or it was replaced by a newer one. Open the newest email, or ask for another with POST /v1/signup/verification-email.",
        });
      await db.query("SELECT set_config('app.tenant_id', $1, true)", [link.tenant_id]);
      const used = await db.query(
        "UPDATE email_verifications SET used_at = now() WHERE id = $1 AND used_at IS NULL AND expires_at > now()",
        [link.id],
      );
      if (used.rowCount === 0 && (link.used_at || !link.expired))
        throw new Problem({
          type: "verification-link-used",
          title: "Verification link already used",
          status: 410,
          detail:
            "This link was already used: the email is verified and the signup's API key works. Links work once.",
        });
      if (used.rowCount === 0)
        throw new Problem({
          type: "verification-link-expired",
          title: "Verification link expired",
          status: 410,
          detail: `This link expired on ${link.expires_at.toISOString()} (links last ${VERIFICATION_TTL_HOURS} hours). Ask for a new one with POST /v1/signup/verification-email.`,
          expiredAt: link.expires_at.toISOString(),
        });
      const { rows: signup } = await db.query<{ email: string; slug: string }>(
        `UPDATE signups s SET email_verified_at = coalesce(s.email_verified_at, now())
           FROM tenants t WHERE t.id = s.tenant_id AND s.tenant_id = $1 RETURNING s.email, t.slug`,
        [link.tenant_id],
      );
      await db.query("UPDATE api_keys SET awaiting_verification = false WHERE awaiting_verification");
      return {
        verified: true,
        tenant: signup[0]!.slug,
        email: signup[0]!.email,
        detail: "Your email is verified; the API key you got at signup works now.",
      } satisfies z.infer<typeof verifyEmailResponse>;
    });
  });

  const resendContract = documented({
    summary: "Send a new verification email (older links stop working)",
    tag: "signup",
    auth: "none",
    body: resendVerificationRequest,
    responses: { 202: { description: "A new link is on its way", body: resendVerificationResponse } },
    problems: ["signup-unknown", "signup-already-verified"],
  });
  app.post("/v1/signup/verification-email", resendContract, async (request, reply) => {
    const { email } = request.body;
    const sent = await transaction(pool, async (db) => {
      await db.query("SELECT set_config('app.signup_email', $1, true)", [email]);
      const { rows } = await db.query<{ tenant_id: string; email_verified_at: Date | null }>(
        "SELECT tenant_id, email_verified_at FROM signups WHERE email = $1",
        [email],
      );
      const signup = rows[0];
      if (!signup)
        throw new Problem({
          type: "signup-unknown",
          title: "No signup for this email",
          status: 404,
          detail: `Nobody signed up with ${email}. Sign up with POST /v1/signup.`,
        });
      if (signup.email_verified_at)
        throw new Problem({
          type: "signup-already-verified",
          title: "Email already verified",
          status: 409,
          detail: `${email} was verified on ${signup.email_verified_at.toISOString()}; the signup's API key works.`,
        });
      await db.query("SELECT set_config('app.tenant_id', $1, true)", [signup.tenant_id]);
      // Older links stop working: only the newest email's link verifies.
      await db.query(
        "UPDATE email_verifications SET expires_at = least(expires_at, now()) WHERE used_at IS NULL",
      );
      return queueVerification(db, signup.tenant_id, config.publicBaseUrl);
    });
    return reply.code(202).send({ sentTo: email, expiresAt: sent.expiresAt });
  });
};
