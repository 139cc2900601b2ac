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
} as const satisfies Record<string, ProblemTypeEntry>;

export type ProblemType = keyof typeof PROBLEM_TYPES;

export const PROBLEM_TYPE_SLUGS = Object.keys(PROBLEM_TYPES) as ProblemType[];
