// Bulk rating over HTTP: upload lanes (JSON or CSV), get a job id back at once (202), follow its
// progress and per-row results, download them as CSV. The runners do the pricing (app/runner).
import type { FastifyError, FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import type { AppContext } from "../http/app.ts";
import { PG_INTEGER_MAX } from "../http/boundary.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, parseOrProblem, Problem, sendProblem, validationProblem } from "../http/problem.ts";
import { CsvError, csvField, lanesFromCsv, type LaneInput, type PricedLane } from "./lanes.ts";
import type { FieldError } from "../http/problem.ts";

/** Lanes per job: a large shipper's lane file, and what one job may hold a runner for. */
export const MAX_LANES_PER_JOB = 50_000;
/** Upload size: 50,000 CSV lanes of about 80 bytes, with room for JSON's keys. */
export const BULK_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
const CSV_TYPES = ["text/csv", "application/csv"];

const bulkJsonRequest = z.strictObject({
  lanes: z.array(
    z.unknown(),
    "must be an array of lanes, each {origin, destination, equipment, weightLbs, pickupDate}",
  ),
});

const jobParams = z.strictObject({ id: z.uuid("must be a bulk job id (UUID)") });
const listQuery = z.strictObject({
  limit: z.coerce
    .number("must be a number")
    .int()
    .min(1, "must be at least 1")
    .max(100, "must be at most 100")
    .default(20),
});
const pageQuery = z.strictObject({
  // Compared with row_number, an integer column: a larger offset would fail in the database.
  offset: z.coerce
    .number("must be a number")
    .int()
    .min(0, "must be 0 or more")
    .max(PG_INTEGER_MAX, `must be at most ${PG_INTEGER_MAX}`)
    .default(0),
  limit: z.coerce
    .number("must be a number")
    .int()
    .min(1, "must be at least 1")
    .max(1000, "must be at most 1000")
    .default(100),
});

const csvUpload = z
  .string()
  .describe(
    "A CSV file: a header row naming origin,destination,equipment,weightLbs,pickupDate (in any order), then a lane per line",
  );

export const BULK_JOB_STATES = ["queued", "running", "retrying", "succeeded", "failed"] as const;
export type BulkJobState = (typeof BULK_JOB_STATES)[number];

const fieldErrorView = z.strictObject({ field: z.string(), message: z.string() });

const jobViewSchema = z.strictObject({
  id: z.guid(),
  state: z.enum(BULK_JOB_STATES),
  source: z.enum(["json", "csv"]),
  lanes: z.strictObject({ total: z.int(), priced: z.int(), invalid: z.int(), pending: z.int() }),
  progress: z.number().min(0).max(1),
  attempts: z.int(),
  lastError: z.string().nullable(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  links: z.strictObject({ self: z.url(), resultsCsv: z.url() }),
});

const pricedLane = z.strictObject({
  origin: z.string(),
  destination: z.string(),
  equipment: z.string(),
  weightLbs: z.number(),
  pickupDate: z.string(),
  distanceMiles: z.number(),
  linehaulCents: z.int(),
  fuelSurchargeCents: z.int(),
  marginCents: z.int(),
  totalCents: z.int(),
  currency: z.literal("USD"),
  pricingVersion: z.string(),
  pricingModel: z.string().optional().describe("The pricing model whose version priced the lane"),
  pricingBucket: z.int().optional().describe("The tenant's bucket (0 to 9,999) that chose the version"),
});

const laneView = z.strictObject({
  row: z.int(),
  status: z.enum(["pending", "priced", "invalid"]),
  result: pricedLane.optional(),
  input: z.unknown().optional().describe("The lane as uploaded (any JSON value), until it is priced"),
  errors: z.array(fieldErrorView).optional(),
});

const jobWithRows = jobViewSchema.extend({
  rows: z.array(laneView),
  page: z.strictObject({ offset: z.int(), limit: z.int(), next: z.url().nullable() }),
});

export interface JobRow {
  id: string;
  state: BulkJobState;
  source: "json" | "csv";
  attempts: number;
  lanes_total: number;
  lanes_priced: number;
  lanes_invalid: number;
  last_error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

interface LaneRow {
  row_number: number;
  status: "pending" | "priced" | "invalid";
  input: LaneInput;
  result: PricedLane | null;
  errors: FieldError[] | null;
}

const JOB_COLUMNS = `id, state, source, attempts, lanes_total, lanes_priced, lanes_invalid, last_error, created_at,
  started_at, finished_at`;

function jobView(job: JobRow, baseUrl: string): z.infer<typeof jobViewSchema> {
  const done = job.lanes_priced + job.lanes_invalid;
  return {
    id: job.id,
    state: job.state,
    source: job.source,
    lanes: {
      total: job.lanes_total,
      priced: job.lanes_priced,
      invalid: job.lanes_invalid,
      pending: job.lanes_total - done,
    },
    progress: Math.round((done / job.lanes_total) * 1000) / 1000,
    attempts: job.attempts,
    // Why the last attempt did not finish (a runner lost, an error on our side); null when fine.
    lastError: job.state === "succeeded" ? null : job.last_error,
    createdAt: job.created_at.toISOString(),
    startedAt: job.started_at?.toISOString() ?? null,
    finishedAt: job.finished_at?.toISOString() ?? null,
    links: {
      self: `${baseUrl}/v1/bulk-jobs/${job.id}`,
      resultsCsv: `${baseUrl}/v1/bulk-jobs/${job.id}/results.csv`,
    },
  };
}

function rowView(lane: LaneRow) {
  return {
    row: lane.row_number,
    status: lane.status,
    ...(lane.status === "priced" ? { result: lane.result } : { input: lane.input }),
    ...(lane.status === "invalid" ? { errors: lane.errors } : {}),
  };
}

function tooManyLanes(count: number): Problem {
  return new Problem({
    type: "too-many-lanes",
    title: "Too many lanes",
    status: 413,
    detail: `This upload has ${count} lanes; a bulk job takes at most ${MAX_LANES_PER_JOB}. Split the file into several jobs.`,
    maxLanes: MAX_LANES_PER_JOB,
  });
}

/** Enqueues a job with its lanes for the tenant in the transaction's context (metering is the caller's). */
export async function enqueueBulkJob(db: Db, source: "json" | "csv", lanes: unknown[]): Promise<JobRow> {
  const { rows } = await db.query<JobRow>(
    `INSERT INTO jobs (tenant_id, source, lanes_total) VALUES (current_tenant_id(), $1, $2) RETURNING ${JOB_COLUMNS}`,
    [source, lanes.length],
  );
  const job = rows[0] as JobRow;
  await db.query(
    `INSERT INTO bulk_job_lanes (job_id, row_number, tenant_id, input)
     SELECT $1, e.ordinality, current_tenant_id(), e.value
       FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ordinality)`,
    [job.id, JSON.stringify(lanes)],
  );
  return job;
}

export const bulkJobRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  const baseUrl = ctx.config.publicBaseUrl;
  // Every bulk job route, reads too: a plan without bulk rating has no jobs to read.
  app.addHook("preHandler", ctx.feature("bulkRating"));

  app.addContentTypeParser(
    CSV_TYPES,
    { parseAs: "string", bodyLimit: BULK_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );

  // Errors with a different answer here than elsewhere (larger limit, CSV accepted); the rest go up.
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return sendProblem(
        reply,
        new Problem({
          type: "body-too-large",
          title: "Upload too large",
          status: 413,
          detail: `Bulk uploads are limited to ${BULK_BODY_LIMIT_BYTES / 1024 / 1024} MiB and ${MAX_LANES_PER_JOB} lanes. Split the file into several jobs.`,
        }),
      );
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return sendProblem(
        reply,
        new Problem({
          type: "unsupported-media-type",
          title: "Unsupported media type",
          status: 415,
          detail:
            'Send lanes as JSON ({"lanes": [...]}, Content-Type: application/json) or as a CSV file with a header row (Content-Type: text/csv).',
        }),
      );
    }
    throw error;
  });

  const createContract = documented({
    summary: "Upload lanes to price as a bulk job",
    description: `JSON ({"lanes": [...]}, each lane as POST /v1/quotes takes it) or a CSV file; up to ${MAX_LANES_PER_JOB} lanes and ${BULK_BODY_LIMIT_BYTES / 1024 / 1024} MiB. Counts one unit of the bulk_jobs meter; lanes are checked one by one as they are priced, each invalid one reported in its row.`,
    tag: "bulk rating",
    auth: "api-key",
    idempotent: true,
    metered: true,
    body: { "application/json": bulkJsonRequest, "text/csv": csvUpload, "application/csv": csvUpload },
    responses: { 202: { description: "The job, queued; follow links.self", body: jobViewSchema } },
    problems: ["too-many-lanes"],
  });
  app.post(
    "/v1/bulk-jobs",
    { ...createContract, bodyLimit: BULK_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const contentType =
        String(request.headers["content-type"] ?? "")
          .split(";")[0]
          ?.trim()
          .toLowerCase() ?? "";
      let lanes: unknown[];
      let source: "json" | "csv";
      if (CSV_TYPES.includes(contentType)) {
        source = "csv";
        try {
          lanes = lanesFromCsv(String(request.body ?? ""));
        } catch (error) {
          if (!(error instanceof CsvError)) throw error;
          throw validationProblem(
            [{ field: "(file)", message: error.message }],
            "The CSV file cannot be read.",
          );
        }
      } else {
        source = "json";
        // Fastify validated a JSON body by its media type; a request without one is refused here the same way.
        lanes = parseOrProblem(bulkJsonRequest, request.body).lanes;
      }
      if (lanes.length === 0) {
        throw validationProblem([
          { field: source === "csv" ? "(file)" : "lanes", message: "has no lanes; send at least one" },
        ]);
      }
      if (lanes.length > MAX_LANES_PER_JOB) throw tooManyLanes(lanes.length);

      return ctx.idempotent(request, reply, async (db) => {
        // Counted in the transaction that enqueues: a job exists exactly when its unit was counted.
        await ctx.meter(db, request, reply, "bulk_jobs");
        const job = await enqueueBulkJob(db, source, lanes);
        return { statusCode: 202, body: jobView(job, baseUrl) };
      });
    },
  );

  const listContract = documented({
    summary: "The tenant's latest bulk jobs",
    tag: "bulk rating",
    auth: "api-key",
    querystring: listQuery,
    responses: {
      200: { description: "Newest first", body: z.strictObject({ jobs: z.array(jobViewSchema) }) },
    },
    problems: [],
  });
  app.get("/v1/bulk-jobs", listContract, async (request) => {
    const { limit } = request.query;
    const jobs = await ctx.asTenant(request, async (db) => {
      const { rows } = await db.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id LIMIT $1`,
        [limit],
      );
      return rows;
    });
    return { jobs: jobs.map((job) => jobView(job, baseUrl)) };
  });

  const readContract = documented({
    summary: "A bulk job's progress and a page of its rows",
    tag: "bulk rating",
    auth: "api-key",
    params: jobParams,
    querystring: pageQuery,
    responses: {
      200: { description: "The job and rows after offset; page.next links the next page", body: jobWithRows },
    },
    problems: ["not-found"],
  });
  app.get("/v1/bulk-jobs/:id", readContract, async (request) => {
    const { id } = request.params;
    const page = request.query;
    const found = await ctx.asTenant(request, async (db) => {
      const job = (await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id])).rows[0];
      if (!job) return undefined;
      const lanes = await db.query<LaneRow>(
        `SELECT row_number, status, input, result, errors FROM bulk_job_lanes
          WHERE job_id = $1 AND row_number > $2 ORDER BY row_number LIMIT $3`,
        [id, page.offset, page.limit],
      );
      return { job, lanes: lanes.rows };
    });
    if (!found) throw notFound(`Bulk job ${id}`);
    const next = page.offset + page.limit < found.job.lanes_total ? page.offset + page.limit : null;
    return {
      ...jobView(found.job, baseUrl),
      rows: found.lanes.map(rowView),
      page: {
        offset: page.offset,
        limit: page.limit,
        next: next === null ? null : `${baseUrl}/v1/bulk-jobs/${id}?offset=${next}&limit=${page.limit}`,
      },
    };
  });

  const resultsContract = documented({
    summary: "A bulk job's results as a CSV file",
    tag: "bulk rating",
    auth: "api-key",
    params: jobParams,
    responses: {
      200: {
        description: "A row per lane: its status, the lane, its price or its errors",
        contentType: "text/csv",
        body: z.string(),
      },
    },
    problems: ["not-found"],
  });
  app.get("/v1/bulk-jobs/:id/results.csv", resultsContract, async (request, reply) => {
    const { id } = request.params;
    const found = await ctx.asTenant(request, async (db) => {
      const job = (await db.query<{ id: string }>("SELECT id FROM jobs WHERE id = $1", [id])).rows[0];
      if (!job) return undefined;
      return (
        await db.query<LaneRow>(
          "SELECT row_number, status, input, result, errors FROM bulk_job_lanes WHERE job_id = $1 ORDER BY row_number",
          [id],
        )
      ).rows;
    });
    if (!found) throw notFound(`Bulk job ${id}`);
    const header = [
      "row",
      "status",
      "origin",
      "destination",
      "equipment",
      "weightLbs",
      "pickupDate",
      "distanceMiles",
      "linehaulCents",
      "fuelSurchargeCents",
      "marginCents",
      "totalCents",
      "currency",
      "pricingVersion",
      "errors",
    ];
    const lines = [header.join(",")];
    for (const lane of found) {
      const r = lane.result;
      const source = r ?? lane.input;
      const errors = (lane.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
      lines.push(
        [
          lane.row_number,
          lane.status,
          source.origin,
          source.destination,
          source.equipment,
          source.weightLbs,
          source.pickupDate,
          r?.distanceMiles,
          r?.linehaulCents,
          r?.fuelSurchargeCents,
          r?.marginCents,
          r?.totalCents,
          r?.currency,
          r?.pricingVersion,
          errors,
        ]
          .map(csvField)
          .join(","),
      );
    }
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="bulk-job-${id}.csv"`)
      .send(lines.join("\r\n") + "\r\n");
  });
};
