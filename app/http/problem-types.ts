// The catalogue of problem `type` values the API answers with: one entry per slug, with its canonical
// title, the statuses it comes with and what a client should do. Problem's constructor accepts only a
// slug from here, so a new problem cannot be thrown before it is catalogued (and so documented); the
// OpenAPI document publishes each entry as a schema its routes' responses reference.
import { z } from "zod";

export interface ProblemTypeEntry {
  title: string;
  statuses: readonly number[];
  description: string;
  /** Extension members the problem carries beside type/title/status/detail/errors. */
  extensions?: z.ZodRawShape;
}

export const PROBLEM_TYPES = {
  validation: {
    title: "Invalid request",
    statuses: [422],
    description: "A field is missing, malformed or out of range; `errors` names each field and the fix.",
  },
  "not-found": {
    title: "Not found",
    statuses: [404],
    description: "The route, or the object the path names, does not exist for this tenant.",
  },
  "malformed-json": {
    title: "Malformed JSON",
    statuses: [400],
    description: "The body is not valid JSON.",
  },
  "body-too-large": {
    title: "Request body too large",
    statuses: [413],
    description:
      "The body is over the route's size limit (256 KiB; 8 MiB for bulk uploads; 1 MiB for webhooks).",
  },
  "unsupported-media-type": {
    title: "Unsupported media type",
    statuses: [415],
    description: "The Content-Type is not one the route reads.",
  },
  "bad-content-length": {
    title: "Bad Content-Length",
    statuses: [400],
    description: "The Content-Length header does not match the body.",
  },
  "bad-request": {
    title: "Bad request",
    statuses: [400],
    description: "The HTTP request itself could not be read (for example a malformed URL).",
  },
  internal: {
    title: "Internal error",
    statuses: [500],
    description: "The request failed on our side and changed nothing; retry with the same Idempotency-Key.",
  },
  unauthorized: {
    title: "Missing or invalid API key",
    statuses: [401],
    description:
      "No API key, a malformed one, or one unknown or disabled. Send `Authorization: Bearer <key>`.",
  },
  "no-entitlement": {
    title: "Not included in your plan",
    statuses: [403],
    description: "The tenant's plan has no entitlement for the meter this route counts.",
    extensions: { meter: z.string(), upgradeUrl: z.url() },
  },
  "meter-limit-reached": {
    title: "Plan limit reached",
    statuses: [429],
    description:
      "The meter this route counts is at its hard ceiling for the period; Retry-After says when it resets.",
    extensions: {
      meter: z.string(),
      used: z.int(),
      limit: z.int(),
      included: z.int(),
      period: z.enum(["day", "month"]),
      resetsAt: z.iso.datetime(),
      upgradeUrl: z.url(),
      requestIncreaseUrl: z.url(),
    },
  },
  "invalid-idempotency-key": {
    title: "Invalid Idempotency-Key",
    statuses: [400],
    description: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.",
  },
  "idempotency-key-reused": {
    title: "Idempotency-Key reused",
    statuses: [422],
    description: "The Idempotency-Key was used before for a different request.",
  },
  "quote-already-booked": {
    title: "Quote already booked",
    statuses: [409],
    description: "A quote books once; `bookingId` names the booking it already has.",
    extensions: { bookingId: z.uuid() },
  },
  "quote-expired": {
    title: "Quote expired",
    statuses: [409],
    description: "The quote is past its expiry; request a new quote for the lane.",
  },
  "carrier-already-invited": {
    title: "Carrier already invited",
    statuses: [409],
    description: "The tenant has invited this carrier already; an invite per carrier is enough.",
    extensions: { inviteId: z.uuid().optional() },
  },
  "too-many-lanes": {
    title: "Too many lanes",
    statuses: [413],
    description: "A bulk job holds at most `maxLanes` lanes; split the upload.",
    extensions: { maxLanes: z.int() },
  },
  "no-billing-account": {
    title: "No billing account yet",
    statuses: [409],
    description: "The tenant has not subscribed yet; start with a checkout session.",
  },
  "already-subscribed": {
    title: "Already subscribed",
    statuses: [409],
    description: "The tenant has a subscription; change plans in the customer portal.",
  },
  "bad-signature": {
    title: "Signature verification failed",
    statuses: [400],
    description: "The Stripe-Signature header does not verify against the body and the endpoint's secret.",
  },
  "writes-frozen": {
    title: "Writes are paused for a region failover",
    statuses: [503],
    description: "A region failover is moving writes; nothing changed. Retry after Retry-After seconds.",
    extensions: { retryAfterSeconds: z.int() },
  },
  "use-active-region": {
    title: "Use the active region",
    statuses: [307, 503],
    description:
      "This region does not serve the request now: 307 redirects to the active region (Location), 503 when no peer URL is known.",
    extensions: { region: z.string() },
  },
  "insufficient-scope": {
    title: "API key lacks a scope",
    statuses: [403],
    description:
      "The key lacks the scope the route needs (read for GET, quote for other writes, admin for keys, SSO and billing changes); `requiredScope` names it. Use a key with it, or have an admin key create one.",
    extensions: { requiredScope: z.enum(["read", "quote", "admin"]), keyScopes: z.array(z.string()) },
  },
  "email-not-verified": {
    title: "Email not verified yet",
    statuses: [403],
    description: "The key belongs to a signup whose email is not verified; open the link emailed at signup.",
  },
  "plan-feature-required": {
    title: "Not included in your plan",
    statuses: [403],
    description:
      "The tenant's plan lacks the feature this route (or an SSO session) needs; `requiredPlan` and `upgradeUrl` name the smallest plan that has it.",
    extensions: {
      feature: z.string(),
      plan: z.string(),
      requiredPlan: z.string().optional(),
      upgradeUrl: z.url().optional(),
    },
  },
  "wrong-region": {
    title: "Tenant served in another region",
    statuses: [421],
    description:
      "The tenant is pinned to another region for data residency and is served only there; `baseUrl` is that region's API when known.",
    extensions: { region: z.string(), baseUrl: z.url().optional() },
  },
  "rate-limited": {
    title: "Too many requests",
    statuses: [429],
    description:
      "Over the request rate (per tenant, or per client address on the public calculator); Retry-After says when to retry, the RateLimit headers where the limit stands.",
    extensions: {
      policy: z.enum(["tenant", "address"]),
      requestsPerSecond: z.number(),
      burst: z.int(),
      retryAfterSeconds: z.int(),
    },
  },
  "session-read-only": {
    title: "Sessions are read-only",
    statuses: [403],
    description: "A single sign-on session may only read (GET); send writes with an API key.",
  },
  "session-expired": {
    title: "Session expired or revoked",
    statuses: [401],
    description:
      "The single sign-on or console session cookie has expired, was revoked or does not check out; sign in again.",
  },
  "csrf-token-invalid": {
    title: "Missing or wrong CSRF token",
    statuses: [403],
    description:
      "A write made with a console session cookie lacks the page's X-CSRF-Token (or it does not match); reload the page.",
  },
  "api-key-not-active": {
    title: "API key is no longer active",
    statuses: [409],
    description: "The key is revoked or expired and cannot be rotated; create a new key.",
    extensions: { keyStatus: z.enum(["revoked", "expired"]) },
  },
  "signup-email-taken": {
    title: "Email already signed up",
    statuses: [409],
    description:
      "The email address has signed up already; use that account, or ask for a new verification email.",
  },
  "signup-company-taken": {
    title: "Company already has an account",
    statuses: [409],
    description: "An account for the company exists; ask its admin for a key, or use a more specific name.",
  },
  "signup-unavailable": {
    title: "Signup is not available here",
    statuses: [503],
    description: "This deployment cannot create tenants (no control plane); contact sales.",
  },
  "verification-link-unknown": {
    title: "Unknown verification link",
    statuses: [404],
    description: "The link is not one we sent, or a newer one replaced it; open the newest email.",
  },
  "verification-link-used": {
    title: "Verification link already used",
    statuses: [410],
    description: "The link was used already: the email is verified and the signup's key works.",
  },
  "verification-link-expired": {
    title: "Verification link expired",
    statuses: [410],
    description: "The link is past its expiry; ask for a new one with POST /v1/signup/verification-email.",
    extensions: { expiredAt: z.iso.datetime() },
  },
  "signup-unknown": {
    title: "No signup for this email",
    statuses: [404],
    description: "Nobody signed up with this email address; sign up with POST /v1/signup.",
  },
  "signup-already-verified": {
    title: "Email already verified",
    statuses: [409],
    description: "The email is verified already; the signup's API key works.",
  },
  "settlement-conflict": {
    title: "Booking already settled",
    statuses: [409],
    description:
      "The booking has a settlement with other values; a settlement is final. Send the settled values (a no-op) or ask ops to correct it.",
    extensions: { bookingId: z.uuid() },
  },
  "contract-rate-overlap": {
    title: "Overlapping contract rate",
    statuses: [409],
    description:
      "Another contract rate covers the lane on some of the same pickup days; end it first or start after it.",
    extensions: {
      conflictingRateId: z.uuid(),
      conflictingValidFrom: z.iso.date(),
      conflictingValidTo: z.iso.date(),
    },
  },
  "contract-rate-ended": {
    title: "Contract rate already ended",
    statuses: [409],
    description: "The contract rate was ended already; create a new rate for later days.",
  },
  "documents-not-enabled": {
    title: "Documents are not enabled here",
    statuses: [404],
    description: "This deployment has no documents buckets configured.",
  },
  "documents-storage-unavailable": {
    title: "Document storage is not answering",
    statuses: [503],
    description: "The documents bucket (and its replica) did not answer; nothing changed. Retry shortly.",
  },
  "document-already-confirmed": {
    title: "Document already confirmed",
    statuses: [409],
    description: "The document's upload was confirmed already; delete it and attach a new one to replace it.",
  },
  "document-not-uploaded": {
    title: "Nothing uploaded yet",
    statuses: [409],
    description: "Nothing was uploaded to the document's upload URL yet; PUT the file there, then confirm.",
  },
  "document-upload-expired": {
    title: "Upload URL expired",
    statuses: [410],
    description: "The upload URL expired before anything was uploaded; attach the document again.",
  },
  "document-checksum-mismatch": {
    title: "The upload is not the declared file",
    statuses: [422],
    description:
      "The uploaded object's size, type or SHA-256 differs from what was declared; it was removed. Attach the document again.",
  },
  "alert-receiver-not-configured": {
    title: "Alert receiver not configured",
    statuses: [404],
    description:
      "This deployment has no ALERT_RECEIVER_TOKEN, so it takes no Alertmanager notifications; the stacks set it.",
  },
  "alert-receiver-unauthorized": {
    title: "Alert receiver token refused",
    statuses: [401],
    description:
      "The notification's bearer token is not this deployment's ALERT_RECEIVER_TOKEN; Alertmanager's http_config must send it.",
  },
  "sso-not-configured": {
    title: "Single sign-on not configured",
    statuses: [404],
    description: "The tenant has no identity provider; an admin registers one with PUT /v1/sso/provider.",
  },
  "sso-unavailable": {
    title: "Single sign-on unavailable",
    statuses: [503],
    description: "This deployment cannot read client secrets (no Secrets Manager region).",
  },
  "sso-secret-unreadable": {
    title: "Client secret unreadable",
    statuses: [502],
    description:
      "The tenant's client secret could not be read from Secrets Manager under the name registered.",
  },
  "sso-provider-unreachable": {
    title: "Identity provider unreachable",
    statuses: [502],
    description: "The identity provider did not answer its discovery document; check the issuer URL.",
  },
  "sso-state-mismatch": {
    title: "Sign-in started elsewhere",
    statuses: [400],
    description: "The callback's state does not match this browser's sign-in cookie; start again.",
  },
  "sso-invalid-state": {
    title: "Unknown sign-in",
    statuses: [400],
    description: "The callback's state names no sign-in started here; start again.",
  },
  "sso-login-used": {
    title: "Sign-in already used",
    statuses: [409],
    description: "The sign-in's code was used already (a code is good once); start again.",
  },
  "sso-login-expired": {
    title: "Sign-in expired",
    statuses: [400],
    description: "The sign-in took longer than allowed at the provider; start again.",
  },
  "sso-denied": {
    title: "Sign-in refused by the identity provider",
    statuses: [401],
    description: "The identity provider answered the sign-in with an error.",
  },
  "sso-token-rejected": {
    title: "Sign-in not accepted",
    statuses: [401],
    description:
      "The code or ID token did not check out against the tenant's identity provider; start again.",
  },
  "data-request-not-verified": {
    title: "Requester not verified",
    statuses: [409],
    description:
      "The data subject request's requester has not been verified yet; verify them with POST /v1/data-requests/{id}/verification first.",
  },
  "data-request-state": {
    title: "Data subject request cannot take this step",
    statuses: [409],
    description:
      "The request is past this step (completed, denied) or not at it yet; read it with GET /v1/data-requests/{id}.",
  },
  "data-subject-unknown": {
    title: "No data about this subject",
    statuses: [422],
    description:
      "This tenant holds no data about the person named: a request is filed with the tenant whose customer they are; check the address or id.",
  },
  "data-subject-erased": {
    title: "Subject already erased",
    statuses: [409],
    description:
      "The person was erased already (or an erasure of them is under way); nothing is left to erase.",
  },
  "subject-erased-not-reimported": {
    title: "Person's data was erased",
    statuses: [409],
    description:
      "The address or sign-in names a person whose data this tenant erased on request (a data subject request): it is not recorded again, and nothing was created or counted. Use another contact, or ask the person to contact you anew.",
    extensions: { dataRequestId: z.uuid(), erasedOn: z.iso.date() },
  },
  "export-link-expired": {
    title: "Export link expired",
    statuses: [410],
    description: "The export link is past its expiry; ask for a fresh one with GET /v1/data-requests/{id}.",
  },
  "carrier-not-invited": {
    title: "Carrier not invited",
    statuses: [409],
    description:
      "Compliance documents are recorded by a tenant that invited the carrier; invite it first (POST /v1/directory/invites).",
  },
  "nps-survey-already-answered": {
    title: "Survey already answered",
    statuses: [409],
    description:
      "Each NPS survey counts one answer and this one has it; the first answer stands. A support ticket reaches us with anything more.",
    extensions: { surveyId: z.uuid() },
  },
  "nps-survey-expired": {
    title: "Survey expired",
    statuses: [410],
    description:
      "The NPS survey closed (30 days after its invitation) and takes no answers; the next milestone brings a new one.",
    extensions: { surveyId: z.uuid() },
  },
} as const satisfies Record<string, ProblemTypeEntry>;

export type ProblemType = keyof typeof PROBLEM_TYPES;

export const PROBLEM_TYPE_SLUGS = Object.keys(PROBLEM_TYPES) as ProblemType[];
