// Contract rates: a tenant's negotiated linehaul per lane and equipment, valid for a window of
// pickup days. Quotes on a covered lane and day use the rate ahead of spot pricing. Windows of one
// lane never overlap (a pickup day must have one answer); a rate is ended, never deleted, so a quote
// priced from it still explains itself. The zod schemas are exported for the API contract.
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { AppContext } from "../http/app.ts";
import { documented, type ZodTypeProvider } from "../http/contract.ts";
import { notFound, Problem, validationProblem, type FieldError } from "../http/problem.ts";
import {
  contractRateById,
  endContractRate,
  insertContractRate,
  listContractRates,
  lockLane,
  overlappingRates,
  type ContractRateRecord,
} from "../pricing/contract-rates.ts";
import { EQUIPMENT } from "../pricing/data.ts";
import { findMarket, marketKey } from "../pricing/markets.ts";
import { checkLane, utcToday } from "../pricing/quote-request.ts";
import { readCanaryRoute } from "../routing/read-canary.ts";

/** Longest window one rate may cover; longer agreements are entered as consecutive rates. */
export const MAX_CONTRACT_DAYS = 3 * 366;

const calendarDay = (what: string) =>
  z
    .string(`must be the ${what} as YYYY-MM-DD`)
    .regex(/^\d{4}-\d{2}-\d{2}$/, `must be the ${what} as YYYY-MM-DD`)
    .refine((day) => {
      const parsed = new Date(`${day}T00:00:00Z`);
      return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day;
    }, "is not a calendar date");

export const contractRateCreateBody = z.strictObject({
  origin: z.string("must be a market as 'City, ST', e.g. 'Chicago, IL'").min(3).max(80),
  destination: z.string("must be a market as 'City, ST', e.g. 'Dallas, TX'").min(3).max(80),
  equipment: z.enum(EQUIPMENT, `must be one of ${EQUIPMENT.join(", ")}`),
  linehaulCents: z
    .number("must be the negotiated linehaul in whole cents, e.g. 185000")
    .int("must be whole cents, e.g. 185000")
    .min(1, "must be more than 0")
    .max(10_000_000, "must be at most 10000000 (100,000.00 USD) per load"),
  validFrom: calendarDay("first pickup day"),
  validTo: calendarDay("last pickup day"),
  reference: z.string().trim().max(200, "must be at most 200 characters").default(""),
});

export const contractRateListQuery = z.strictObject({
  origin: z.string().max(80).optional(),
  destination: z.string().max(80).optional(),
  equipment: z.enum(EQUIPMENT, `must be one of ${EQUIPMENT.join(", ")}`).optional(),
  activeOn: calendarDay("pickup day").optional(),
  limit: z.coerce.number("must be a number").int().min(1, "must be at least 1").max(200).default(50),
  offset: z.coerce.number("must be a number").int().min(0, "must be 0 or more").max(100_000).default(0),
});

export const contractRateEndBody = z
  .strictObject({ lastDay: calendarDay("last pickup day the rate applies to").optional() })
  .default({});

export const contractRateParams = z.strictObject({ id: z.uuid("must be a contract rate id (UUID)") });

export const contractRateView = z.object({
  id: z.uuid(),
  origin: z.string(),
  destination: z.string(),
  equipment: z.enum(EQUIPMENT),
  linehaulCents: z.number().int(),
  currency: z.literal("USD"),
  validFrom: z.string(),
  validTo: z.string(),
  reference: z.string(),
  createdAt: z.string(),
  endedAt: z.string().nullable(),
});
export type ContractRateView = z.infer<typeof contractRateView>;

export const contractRateList = z.object({
  contractRates: z.array(contractRateView),
  limit: z.int(),
  offset: z.int(),
});

function view(record: ContractRateRecord): ContractRateView {
  return { ...record, currency: "USD" };
}

function dayBefore(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

export const contractRateRoutes: FastifyPluginAsync<{ ctx: AppContext }> = async (plugin, { ctx }) => {
  const app = plugin.withTypeProvider<ZodTypeProvider>();
  app.addHook("preHandler", ctx.feature("contracts"));
  const rates = { tag: "contract-rates", auth: "api-key" } as const;

  const createContract = documented({
    ...rates,
    summary: "Add a contract rate for a lane and equipment over a window of pickup days",
    idempotent: true,
    body: contractRateCreateBody,
    responses: { 201: { description: "The contract rate", body: contractRateView } },
    problems: ["contract-rate-overlap"],
  });
  app.post("/v1/contract-rates", createContract, async (request, reply) => {
    const body = request.body;
    const errors: FieldError[] = [];
    const lane = checkLane(body, errors);
    const today = utcToday(new Date());
    if (body.validTo < body.validFrom) {
      errors.push({ field: "validTo", message: `must be on or after validFrom (${body.validFrom})` });
    } else if (daysBetween(body.validFrom, body.validTo) >= MAX_CONTRACT_DAYS) {
      errors.push({
        field: "validTo",
        message: `the window may cover at most ${MAX_CONTRACT_DAYS} days; enter longer agreements as consecutive rates`,
      });
    }
    if (body.validTo < today) {
      errors.push({
        field: "validTo",
        message: `is in the past (today is ${today}); no quote could use the rate`,
      });
    }
    if (errors.length) throw validationProblem(errors);
    const key = {
      origin: marketKey(lane.origin!),
      destination: marketKey(lane.destination!),
      equipment: body.equipment,
    };
    return ctx.idempotent(request, reply, async (db) => {
      await lockLane(db, key);
      const clash = (await overlappingRates(db, key, body.validFrom, body.validTo))[0];
      if (clash) {
        throw new Problem({
          type: "contract-rate-overlap",
          title: "Overlapping contract rate",
          status: 409,
          detail:
            `Contract rate ${clash.id} already covers ${key.origin} -> ${key.destination} (${key.equipment}) ` +
            `from ${clash.validFrom} to ${clash.validTo}, which overlaps ${body.validFrom} to ${body.validTo}. ` +
            `A pickup day has one contract rate: end ${clash.id} first (POST /v1/contract-rates/${clash.id}/end with ` +
            `lastDay ${dayBefore(body.validFrom)}) or start the new rate after ${clash.validTo}.`,
          conflictingRateId: clash.id,
          conflictingValidFrom: clash.validFrom,
          conflictingValidTo: clash.validTo,
        });
      }
      const created = await insertContractRate(db, { ...key, ...body });
      return { statusCode: 201, body: view(created) };
    });
  });

  const listContract = documented({
    ...rates,
    summary: "The tenant's contract rates, by lane, equipment or a pickup day they cover",
    querystring: contractRateListQuery,
    responses: { 200: { description: "A page of contract rates", body: contractRateList } },
    problems: [],
  });
  app.get("/v1/contract-rates", readCanaryRoute(listContract), async (request) => {
    const query = request.query;
    const errors: FieldError[] = [];
    const market = (field: "origin" | "destination") => {
      const name = query[field];
      if (name === undefined) return undefined;
      const found = findMarket(name);
      if (!found) errors.push({ field, message: `unknown market '${name}'; GET /v1/locations lists them` });
      return found;
    };
    const origin = market("origin");
    const destination = market("destination");
    if (errors.length) throw validationProblem(errors);
    const rates = await ctx.asTenant(request, (db) =>
      listContractRates(db, {
        origin: origin ? marketKey(origin) : undefined,
        destination: destination ? marketKey(destination) : undefined,
        equipment: query.equipment,
        activeOn: query.activeOn,
        limit: query.limit,
        offset: query.offset,
      }),
    );
    return { contractRates: rates.map(view), limit: query.limit, offset: query.offset };
  });

  const readContract = documented({
    ...rates,
    summary: "One contract rate",
    params: contractRateParams,
    responses: { 200: { description: "The contract rate", body: contractRateView } },
    problems: ["not-found"],
  });
  app.get("/v1/contract-rates/:id", readContract, async (request) => {
    const { id } = request.params;
    const rate = await ctx.asTenant(request, (db) => contractRateById(db, id));
    if (!rate) throw notFound(`Contract rate ${id}`);
    return view(rate);
  });

  const endContract = documented({
    ...rates,
    summary: "End a contract rate after a last pickup day (today by default)",
    idempotent: true,
    params: contractRateParams,
    body: contractRateEndBody,
    bodyOptional: true,
    responses: { 200: { description: "The contract rate, ended", body: contractRateView } },
    problems: ["not-found", "contract-rate-ended"],
  });
  app.post("/v1/contract-rates/:id/end", endContract, async (request, reply) => {
    const { id } = request.params;
    const body = request.body;
    const lastDay = body.lastDay ?? utcToday(new Date());
    return ctx.idempotent(request, reply, async (db) => {
      const rate = await contractRateById(db, id, true);
      if (!rate) throw notFound(`Contract rate ${id}`);
      if (rate.endedAt) {
        throw new Problem({
          type: "contract-rate-ended",
          title: "Contract rate already ended",
          status: 409,
          detail: `Contract rate ${id} was ended at ${rate.endedAt}; its last pickup day is ${rate.validTo}. Create a new rate for later days.`,
        });
      }
      const withdraw = dayBefore(rate.validFrom);
      if (lastDay > rate.validTo || lastDay < withdraw) {
        throw validationProblem([
          {
            field: "lastDay",
            message: `must be between ${withdraw} (withdraws the rate before its first day) and ${rate.validTo} (its current last day)`,
          },
        ]);
      }
      return { statusCode: 200, body: view(await endContractRate(db, id, lastDay)) };
    });
  });
};
