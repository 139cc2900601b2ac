// The enablement kit's demo scripts, run against the local platform's quote API as a demo tenant:
//   rates      spot quote -> contract rate on the lane -> the same lane priced at contract -> book it
//   directory  search -> invite -> the carrier onboards (accepts, sends its documents) -> scorecard
// Each step says what it does and what the audience sees; nothing is cleaned up, so the presenter
// continues in the console (or with curl) where the script stopped. Re-running is safe: a lane that
// already has a contract, or carriers already invited, are reused or skipped.
import { apiClient, pickupInDays, quoteBody, type ApiResponse } from "../platform/api-client.ts";

export const DEMOS = ["rates", "directory"] as const;
export type DemoName = (typeof DEMOS)[number];

export interface DemoTarget {
  apiUrl: string;
  apiKey: string;
  /** Where the narration goes (stdout for a presenter). */
  say: (line: string) => void;
}

export interface DemoResult {
  steps: number;
  /** What the presenter can open next: ids the data was left under. */
  left: Record<string, string>;
}

const dollars = (cents: number) => `$${(cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2 })}`;

interface Quote {
  id: string;
  totalCents: number;
  breakdown: { source: string };
}
interface Carrier {
  id: string;
  name: string;
  mcNumber: string;
  compliance: { freshness: number };
}
interface Scorecard {
  carrier: { name: string };
  compliance: { freshness: number; status: string };
  invite: { onboardedAt: string | null } | null;
}

function expectStatus<T>(step: string, response: ApiResponse<T>, ...ok: number[]): T {
  if (!ok.includes(response.status))
    throw new Error(
      `${step}: the API answered ${response.status} ${JSON.stringify(response.body).slice(0, 400)}; is the platform up and the key a Pro tenant's (npm start prints both)?`,
    );
  return response.body;
}

export async function ratesDemo(target: DemoTarget): Promise<DemoResult> {
  const api = apiClient(target.apiUrl, target.apiKey);
  const { say } = target;
  const lane = { origin: "Chicago, IL", destination: "Dallas, TX", equipment: "dry_van" };
  say(`Step 1/4, spot: price ${lane.origin} -> ${lane.destination}, dry van, 38,000 lbs, pickup in 3 days.`);
  const spot = expectStatus("spot quote", await api.post<Quote>("/v1/quotes", quoteBody(lane)), 201);
  say(
    `  spot quote ${spot.id}: ${dollars(spot.totalCents)} (linehaul, fuel and margin from the market model)`,
  );

  say("Step 2/4, contract: the shipper signs a lane rate of $1,500 linehaul for the next 30 days.");
  const created = await api.post<{ id: string }>("/v1/contract-rates", {
    ...lane,
    linehaulCents: 150_000,
    validFrom: pickupInDays(0),
    validTo: pickupInDays(30),
    reference: `DEMO-${new Date().toISOString().slice(0, 10)}`,
  });
  let contractId: string;
  if (created.status === 409) {
    const list = expectStatus(
      "contract list",
      await api.get<{ contractRates: { id: string; origin: string; destination: string }[] }>(
        "/v1/contract-rates",
      ),
      200,
    );
    const existing = list.contractRates.find(
      (r) => r.origin === lane.origin && r.destination === lane.destination,
    );
    contractId = existing?.id ?? "(existing)";
    say(`  the lane already has a contract from an earlier run (${contractId}); using it`);
  } else {
    contractId = expectStatus("contract rate", created, 201).id;
    say(`  contract rate ${contractId} recorded`);
  }

  say("Step 3/4, the same lane again: now priced at the contract, and the quote says so.");
  // The API reads a tenant's contract horizon with its key (cached up to AUTH_CACHE_SECONDS, 10 s by
  // default), so the first quotes after signing may still be spot: ask again until the contract applies.
  const deadline = Date.now() + 30_000;
  let contracted = expectStatus("contract quote", await api.post<Quote>("/v1/quotes", quoteBody(lane)), 201);
  while (contracted.breakdown.source !== "contract") {
    if (Date.now() > deadline)
      throw new Error("contract quote: the lane is still priced spot 30 s after the contract was signed");
    say("  (the API picks up the new contract within seconds; asking again)");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    contracted = expectStatus("contract quote", await api.post<Quote>("/v1/quotes", quoteBody(lane)), 201);
  }
  say(
    `  quote ${contracted.id}: ${dollars(contracted.totalCents)}, priced from the ${contracted.breakdown.source} rate (spot was ${dollars(spot.totalCents)})`,
  );

  say("Step 4/4, book it: one call turns the quote into a booking.");
  const booking = expectStatus(
    "booking",
    await api.post<{ bookingId: string }>(`/v1/quotes/${contracted.id}/book`),
    201,
  );
  say(`  booking ${booking.bookingId} for ${dollars(contracted.totalCents)}`);
  say(`Left in place: GET /v1/quotes/${contracted.id}, GET /v1/contract-rates/${contractId}.`);
  return {
    steps: 4,
    left: { spotQuote: spot.id, contractRate: contractId, quote: contracted.id, booking: booking.bookingId },
  };
}

export async function directoryDemo(target: DemoTarget): Promise<DemoResult> {
  const api = apiClient(target.apiUrl, target.apiKey);
  const { say } = target;
  say("Step 1/4, search: carriers based in Texas, each with its compliance freshness.");
  const found = expectStatus(
    "search",
    await api.get<{ carriers: Carrier[] }>("/v1/directory/carriers?state=TX&limit=50"),
    200,
  ).carriers as { id: string; name: string; mcNumber: string; compliance: { freshness: number } }[];
  if (!found.length)
    throw new Error("search: the directory has no Texas carriers; start the platform with its demo seed");
  for (const c of found.slice(0, 3))
    say(`  ${c.name} (MC ${c.mcNumber}): freshness ${c.compliance.freshness}`);

  say("Step 2/4, invite: the broker invites a carrier it has not invited yet (one directory invite).");
  let carrier: (typeof found)[number] | undefined;
  let invite: { id: string } | undefined;
  for (const candidate of found) {
    const response = await api.post<{ id: string }>("/v1/directory/invites", {
      carrierId: candidate.id,
      email: `dispatch@${candidate.mcNumber.toLowerCase()}.example`,
    });
    if (response.status === 409) continue;
    invite = expectStatus("invite", response, 201);
    carrier = candidate;
    break;
  }
  if (!carrier || !invite)
    throw new Error("invite: every Texas carrier is invited already; use a fresh demo tenant");
  say(`  invited ${carrier.name}: invite ${invite.id}`);

  say(
    "Step 3/4, onboard: the carrier accepts and sends its insurance certificate, operating authority and W-9.",
  );
  expectStatus("accept", await api.post(`/v1/directory/invites/${invite.id}/accept`), 200);
  const documents = [
    { kind: "insurance_certificate", issuedOn: pickupInDays(-340), expiresOn: pickupInDays(25) },
    { kind: "operating_authority", issuedOn: pickupInDays(-200), expiresOn: pickupInDays(530) },
    { kind: "w9", issuedOn: pickupInDays(-20), expiresOn: pickupInDays(1075) },
  ];
  for (const d of documents) {
    expectStatus(
      `document ${d.kind}`,
      await api.post(`/v1/directory/carriers/${carrier.id}/compliance-documents`, {
        ...d,
        contactEmail: `compliance@${carrier.mcNumber.toLowerCase()}.example`,
      }),
      201,
    );
    say(`  ${d.kind.replace(/_/g, " ")} on file, valid until ${d.expiresOn}`);
  }

  say("Step 4/4, scorecard: documents, freshness and where the onboarding stands.");
  const card = expectStatus(
    "scorecard",
    await api.get<Scorecard>(`/v1/directory/carriers/${carrier.id}/scorecard`),
    200,
  );
  say(
    `  ${card.carrier.name}: freshness ${card.compliance.freshness}/100 (${card.compliance.status}); onboarded ${card.invite?.onboardedAt ?? "not yet"}`,
  );
  say(
    "  the insurance certificate expires within 30 days: the carrier gets its 30-day reminder from the daily job.",
  );
  say(
    `Left in place: GET /v1/directory/carriers/${carrier.id}/scorecard; run-job primary carrier-compliance.`,
  );
  return { steps: 4, left: { carrier: carrier.id, invite: invite.id } };
}

export function runDemo(name: DemoName, target: DemoTarget): Promise<DemoResult> {
  return name === "rates" ? ratesDemo(target) : directoryDemo(target);
}
