// The HTTP ceiling for bench:quotes: Fastify answering POST /v1/quotes with a quote-sized body and no
// work at all (no auth, pricing or database), run as its own process like the app.
import Fastify from "fastify";

const answer = {
  id: "00000000-0000-4000-8000-000000000000",
  origin: "Chicago, IL",
  destination: "Dallas, TX",
  equipment: "dry_van",
  weightLbs: 36_000,
  pickupDate: "2027-01-15",
  distanceMiles: 925,
  currency: "USD",
  breakdown: {
    linehaulCents: 180_000,
    fuelSurchargeCents: 30_000,
    marginCents: 25_000,
    ratePerMileCents: 195,
    equipmentFactor: 1,
    seasonalityIndex: 1,
    weightFactor: 1,
  },
  totalCents: 235_000,
  pricingVersion: "bench",
  expiresAt: "2027-01-15T00:30:00.000Z",
  createdAt: "2027-01-15T00:00:00.000Z",
  bookedAt: null,
};

const app = Fastify({ logger: false });
app.get("/readyz", async () => ({ status: "ready" }));
app.post("/v1/quotes", async (_request, reply) => reply.code(201).send(answer));
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? "127.0.0.1" });
