// Data subject requests as the tenant files them for its own end users (or for itself): receive,
// verify the requester, follow the request, and download an access request's bundle through the
// signed, expiring link its status gives. Fulfilment is the runner's (dsr_fulfil); ops work the
// same requests with `npm run dsr`. Admin scope: these expose and erase people's data.
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem } from "../http/problem.ts";
import {
  DSR_KINDS,
  DSR_STATUSES,
  DsrError,
  findRequest,
  receiveRequest,
  requestEvents,
  verifyRequest,
  type DsrRequest,
} from "../compliance/dsr/lifecycle.ts";
import { issueExportLink, redeemExportLink } from "../compliance/dsr/links.ts";
import { subjectProblems } from "../compliance/dsr/subject.ts";

export const dataRequestBody = z
  .strictObject({
    kind: z.enum(DSR_KINDS, `must be one of ${DSR_KINDS.join(", ")}`),
    scope: z
      .enum(["subject", "tenant"], "must be subject (one end user) or tenant (the whole tenant)")
      .default("subject"),
    subject: z
      .strictObject({
        email: z.string("must be a string").optional(),
        id: z.string("must be a string").optional(),
      })
      .optional(),
  })
  .superRefine((body, context) => {
    if (body.scope === "tenant") {
      if (body.subject)
        context.addIssue({
          code: "custom",
          path: ["subject"],
          message: "must be absent for a tenant-scope request",
        });
      return;
    }
    for (const message of subjectProblems(body.subject ?? {}))
      context.addIssue({ code: "custom", path: ["subject"], message });
  });

export const dataRequestParams = z.strictObject({ id: z.uuid("must be a data subject request id (UUID)") });

export const dataRequestVerification = z.strictObject({
  verifiedBy: z.string("must be a string").min(1, "must name who checked the requester").max(200),
  method: z
    .string("must be a string")
    .min(3, "must say how the requester's identity was checked (e.g. signed-in session, email link)")
    .max(200),
});

export const dataRequestView = z.object({
  id: z.uuid(),
  kind: z.enum(DSR_KINDS),
  scope: z.enum(["subject", "tenant"]),
  status: z.enum(DSR_STATUSES),
  receivedAt: z.iso.datetime(),
  dueAt: z.iso.datetime(),
  verifiedAt: z.iso.datetime().nullable(),
  completedAt: z.iso.datetime().nullable(),
  deniedAt: z.iso.datetime().nullable(),
  denyReason: z.string().nullable(),
  outcome: z.record(z.string(), z.unknown()).nullable(),
  events: z.array(z.object({ event: z.string(), actor: z.string(), at: z.iso.datetime() })),
  /** A completed access request's bundle: a new link on every read. */
  export: z.object({ url: z.string(), expiresAt: z.iso.datetime() }).nullable(),
});

const exportQuery = z.strictObject({ token: z.string("must be the token of the link").min(20).max(200) });

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function view(
  request: DsrRequest,
  events: { event: string; actor: string; at: Date }[],
  link?: { path: string; expiresAt: Date },
) {
  return {
    id: request.id,
    kind: request.kind,
    scope: request.scope,
    status: request.status,
    receivedAt: request.receivedAt.toISOString(),
    dueAt: request.dueAt.toISOString(),
    verifiedAt: iso(request.verifiedAt),
    completedAt: iso(request.completedAt),
    deniedAt: iso(request.deniedAt),
    denyReason: request.denyReason,
    outcome: request.outcome,
    events: events.map((e) => ({ event: e.event, actor: e.actor, at: e.at.toISOString() })),
    export: link ? { url: link.path, expiresAt: link.expiresAt.toISOString() } : null,
  };
}

/** A refusal of the DSR modules as the API's problem. */
export function dsrProblem(error: unknown): unknown {
  if (!(error instanceof DsrError)) return error;
  const detail = error.message;
  switch (error.code) {
    case "not-found":
      return new Problem({ type: "not-found", title: "Not found", status: 404, detail });
    case "not-verified":
      return new Problem({
        type: "data-request-not-verified",
        title: "Requester not verified",
        status: 409,
        detail,
      });
    case "subject-not-found":
      return new Problem({
        type: "data-subject-unknown",
        title: "No data about this subject",
        status: 422,
        detail,
      });
    case "already-erased":
    case "erasure-pending":
      return new Problem({
        type: "data-subject-erased",
        title: "Subject already erased",
        status: 409,
        detail,
      });
    case "link-expired":
      return new Problem({ type: "export-link-expired", title: "Export link expired", status: 410, detail });
    default:
      return new Problem({
        type: "data-request-state",
        title: "Data subject request cannot take this step",
        status: 409,
        detail,
      });
  }
}

export const dataRequestRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  // The /v1 gate authenticated every request of these routes (auth: "api-key").
  const actor = (request: FastifyRequest) => `tenant:${request.principal!.tenantSlug}`;
  const tenantOf = (request: FastifyRequest) => request.principal!.tenantId;

  const receiveContract = documented({
    summary: "File a data subject request (access or erasure) for an end user or the whole tenant",
    description:
      "Due 7 days after receipt. Nothing happens until the requester is verified (POST .../verification); the runner then fulfils it.",
    tag: "privacy",
    auth: "api-key",
    scope: "admin",
    idempotent: true,
    body: dataRequestBody,
    responses: { 201: { description: "The request, received", body: dataRequestView } },
    problems: ["data-subject-unknown", "data-subject-erased"],
  });
  app.post("/v1/data-requests", receiveContract, async (request, reply) => {
    const body = request.body;
    try {
      return await ctx.idempotent(request, reply, async (db) => {
        const created = await receiveRequest(db, tenantOf(request), {
          kind: body.kind,
          scope: body.scope,
          subject:
            body.subject?.email !== undefined
              ? { email: body.subject.email }
              : body.subject?.id !== undefined
                ? { id: body.subject.id }
                : undefined,
          requestedBy: actor(request),
        });
        return { statusCode: 201, body: view(created, await requestEvents(db, created.id)) };
      });
    } catch (error) {
      throw dsrProblem(error);
    }
  });

  const verifyContract = documented({
    summary: "Record that the requester's identity was checked; fulfilment starts",
    tag: "privacy",
    auth: "api-key",
    scope: "admin",
    params: dataRequestParams,
    body: dataRequestVerification,
    responses: { 200: { description: "The request, verified", body: dataRequestView } },
    problems: ["not-found", "data-request-state"],
  });
  app.post("/v1/data-requests/:id/verification", verifyContract, async (request) => {
    try {
      return await ctx.asTenant(request, async (db) => {
        const verified = await verifyRequest(
          db,
          request.params.id,
          `${actor(request)}:${request.body.verifiedBy}`,
          request.body.method,
        );
        return view(verified, await requestEvents(db, verified.id));
      });
    } catch (error) {
      throw dsrProblem(error);
    }
  });

  const readContract = documented({
    summary:
      "A data subject request, its history and, once an access request is completed, a fresh export link",
    tag: "privacy",
    auth: "api-key",
    scope: "admin",
    params: dataRequestParams,
    responses: { 200: { description: "The request", body: dataRequestView } },
    problems: ["not-found"],
  });
  app.get("/v1/data-requests/:id", readContract, async (request) => {
    const { id } = request.params;
    return ctx.asTenant(request, async (db) => {
      const found = await findRequest(db, id);
      if (!found) throw notFound(`Data subject request ${id}`);
      const link =
        found.kind === "access" && found.status === "completed"
          ? await issueExportLink(db, id, actor(request), ctx.config.DSR_EXPORT_LINK_TTL_SECONDS)
          : undefined;
      return view(found, await requestEvents(db, id), link);
    });
  });

  const exportContract = documented({
    summary:
      "Download an access request's bundle (tar.gz: JSON per table, documents, manifest.json with SHA-256)",
    tag: "privacy",
    auth: "api-key",
    scope: "admin",
    params: dataRequestParams,
    querystring: exportQuery,
    responses: {
      200: { description: "The bundle", contentType: "application/gzip", body: z.string() },
    },
    problems: ["not-found", "export-link-expired", "data-request-state", "data-request-not-verified"],
  });
  app.get("/v1/data-requests/:id/export", exportContract, async (request, reply) => {
    try {
      const bundle = await ctx.asTenant(request, (db) =>
        redeemExportLink(db, request.params.id, request.query.token, actor(request)),
      );
      return reply
        .header("content-type", "application/gzip")
        .header("content-disposition", `attachment; filename="data-request-${request.params.id}.tar.gz"`)
        .send(bundle.archive);
    } catch (error) {
      throw dsrProblem(error);
    }
  });
};
