// Settled actuals over HTTP: one booking's settlement, or an import of many (JSON or CSV, the way
// finance exports them). An import is all or nothing: one bad row refuses the file with every bad row
// named, so a fixed file can be sent again whole; rows already settled identically are "unchanged".
import type { FastifyError, FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, parseOrProblem, Problem, sendProblem, validationProblem } from "../http/problem.ts";
import { CsvError, parseCsvRecords } from "../jobs/lanes.ts";
import { utcToday } from "../pricing/quote-request.ts";
import {
  checkSettlements,
  conflictDetail,
  rowProblems,
  SETTLEMENT_CSV_COLUMNS,
  settleBookings,
  settlementFields,
  settlementsFromCsv,
  type SettlementRecord,
} from "../pricing/settlements.ts";

/** Rows per import: a month of a large tenant's loads, settled in one transaction. */
export const MAX_SETTLEMENTS_PER_IMPORT = 5_000;
const IMPORT_BODY_LIMIT_BYTES = 1024 * 1024;
const CSV_TYPES = ["text/csv", "application/csv"];

const bookingParams = z.strictObject({ id: z.uuid("must be a booking id (UUID)") });

export const settlementView = z.strictObject({
  bookingId: z.uuid(),
  quoteId: z.uuid(),
  invoicedCents: z.int(),
  carrierCostCents: z.int(),
  currency: z.literal("USD"),
  invoiceDate: z.iso.date(),
  invoiceNumber: z.string(),
  settledAt: z.iso.datetime(),
});

const importJson = z.strictObject({
  settlements: z.array(
    z.unknown(),
    "must be an array of settlements, each as POST /v1/bookings/{id}/settlement takes it plus bookingId",
  ),
});
const csvUpload = z
  .string()
  .describe(
    `A CSV file: a header row naming ${SETTLEMENT_CSV_COLUMNS.join(",")} (any order; invoiceNumber optional), then one booking per line`,
  );

const importResult = z.strictObject({
  received: z.int(),
  created: z.int(),
  unchanged: z.int(),
  settlements: z.array(settlementView),
});

function view(record: SettlementRecord) {
  return { ...record, currency: "USD" as const };
}

export const settlementRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  app.addHook("preHandler", ctx.feature("spotQuotes"));
  app.addContentTypeParser(
    CSV_TYPES,
    { parseAs: "string", bodyLimit: IMPORT_BODY_LIMIT_BYTES },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return sendProblem(
        reply,
        new Problem({
          type: "unsupported-media-type",
          title: "Unsupported media type",
          status: 415,
          detail:
            'Send settlements as JSON ({"settlements": [...]}, Content-Type: application/json) or as a CSV file with a header row (Content-Type: text/csv).',
        }),
      );
    }
    throw error;
  });

  const settleContract = documented({
    summary: "Record a booking's settlement: what the load was invoiced at and what the carrier was paid",
    description:
      "A settlement is final: the same one again answers 200 and changes nothing; different values for a settled booking are refused (409). Amounts in USD cents.",
    tag: "settlements",
    auth: "api-key",
    idempotent: true,
    params: bookingParams,
    body: settlementFields,
    responses: {
      201: { description: "The settlement, recorded", body: settlementView },
      200: { description: "The same settlement was already recorded; nothing changed", body: settlementView },
    },
    problems: ["not-found", "settlement-conflict"],
  });
  app.post("/v1/bookings/:id/settlement", settleContract, async (request, reply) => {
    const { id } = request.params;
    const body = request.body;
    const errors = rowProblems(body, utcToday(new Date()));
    if (errors.length) throw validationProblem(errors);
    return ctx.idempotent(request, reply, async (db) => {
      const [outcome] = await settleBookings(db, [{ ...body, bookingId: id }]);
      if (!outcome || outcome.status === "not-found") throw notFound(`Booking ${id}`);
      if (outcome.status === "conflict") {
        throw new Problem({
          type: "settlement-conflict",
          title: "Booking already settled",
          status: 409,
          detail: conflictDetail(outcome.existing, outcome.sent),
          bookingId: id,
        });
      }
      return { statusCode: outcome.status === "created" ? 201 : 200, body: view(outcome.record) };
    });
  });

  const importContract = documented({
    summary: "Import settlements for many bookings (JSON or CSV), all or nothing",
    description: `Up to ${MAX_SETTLEMENTS_PER_IMPORT} rows. Any bad row (malformed, another currency than USD, an unknown booking, a booking settled with other values) refuses the whole import with each bad row named; rows already settled with the same values count as unchanged, so a file can be sent again.`,
    tag: "settlements",
    auth: "api-key",
    idempotent: true,
    body: { "application/json": importJson, "text/csv": csvUpload, "application/csv": csvUpload },
    responses: { 200: { description: "Every row settled (created or unchanged)", body: importResult } },
    problems: [],
  });
  app.post(
    "/v1/settlements",
    { ...importContract, bodyLimit: IMPORT_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const contentType =
        String(request.headers["content-type"] ?? "")
          .split(";")[0]
          ?.trim()
          .toLowerCase() ?? "";
      let rows: unknown[];
      let where: (index: number) => string;
      if (CSV_TYPES.includes(contentType)) {
        let records: string[][];
        try {
          records = parseCsvRecords(String(request.body ?? ""));
        } catch (error) {
          if (!(error instanceof CsvError)) throw error;
          throw validationProblem(
            [{ field: "(file)", message: error.message }],
            "The CSV file cannot be read.",
          );
        }
        const { rows: csvRows, error } = settlementsFromCsv(records);
        if (error)
          throw validationProblem([{ field: "(file)", message: error }], "The CSV file cannot be read.");
        rows = csvRows;
        // Line numbers as a spreadsheet shows them: the header is line 1.
        where = (index) => `line ${index + 2}`;
      } else {
        rows = parseOrProblem(importJson, request.body).settlements;
        where = (index) => `settlements[${index}]`;
      }
      if (rows.length === 0)
        throw validationProblem([{ field: "settlements", message: "has no rows; send at least one" }]);
      if (rows.length > MAX_SETTLEMENTS_PER_IMPORT) {
        throw validationProblem([
          {
            field: "settlements",
            message: `has ${rows.length} rows; at most ${MAX_SETTLEMENTS_PER_IMPORT} per import: split the file`,
          },
        ]);
      }
      const { settlements, errors } = checkSettlements(rows, where, utcToday(new Date()));
      if (errors.length)
        throw validationProblem(
          errors,
          "Nothing was imported: fix the rows named in errors and send the file again.",
        );
      return ctx.idempotent(request, reply, async (db) => {
        const outcomes = await settleBookings(db, settlements);
        const refused = outcomes.flatMap((outcome, index) => {
          if (outcome.status === "not-found") {
            return [
              {
                field: `${where(index)}.bookingId`,
                message: `no booking ${outcome.bookingId} for this tenant; check the id`,
              },
            ];
          }
          if (outcome.status === "conflict") {
            return [{ field: where(index), message: conflictDetail(outcome.existing, outcome.sent) }];
          }
          return [];
        });
        // Thrown inside the transaction: the rows inserted before the bad one roll back with it.
        if (refused.length)
          throw validationProblem(
            refused,
            "Nothing was imported: fix the rows named in errors and send the file again.",
          );
        const done = outcomes.flatMap((outcome) =>
          outcome.status === "created" || outcome.status === "unchanged" ? [outcome] : [],
        );
        return {
          statusCode: 200,
          body: {
            received: rows.length,
            created: done.filter((o) => o.status === "created").length,
            unchanged: done.filter((o) => o.status === "unchanged").length,
            settlements: done.map((o) => view(o.record)),
          },
        };
      });
    },
  );
};
