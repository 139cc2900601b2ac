// What a caller sees at a meter's hard stop and, below it, in the Meter-Usage header.
import type { MeterOutcome } from "../metering/meter.ts";
import { usagePercent, warningLevel } from "../metering/meters.ts";
import type { Principal } from "./auth.ts";
import { Problem } from "./problem.ts";

const METER_LABEL: Record<string, string> = {
  quotes: "quotes",
  bulk_jobs: "bulk rating jobs",
  directory_invites: "carrier directory invites",
};

export function meterLimitProblem(outcome: MeterOutcome, principal: Principal, baseUrl: string): Problem {
  const label = METER_LABEL[outcome.meter] ?? outcome.meter;
  const retryAfter = Math.max(1, Math.ceil((outcome.resetsAt.getTime() - Date.now()) / 1000));
  return new Problem(
    {
      type: "meter-limit-reached",
      title: "Plan limit reached",
      status: 429,
      detail:
        `Your ${principal.planId} plan allows ${outcome.ceiling} ${label} per ${outcome.period} ` +
        `(${outcome.included} included) and ${outcome.used} have been used. ` +
        `The meter resets at ${outcome.resetsAt.toISOString()}. Upgrade your plan or request a limit increase to continue now.`,
      meter: outcome.meter,
      used: outcome.used,
      limit: outcome.ceiling,
      included: outcome.included,
      period: outcome.period,
      resetsAt: outcome.resetsAt.toISOString(),
      upgradeUrl: `${baseUrl}/billing/upgrade?meter=${outcome.meter}`,
      requestIncreaseUrl: `${baseUrl}/v1/limit-increase-requests`,
    },
    { "retry-after": String(retryAfter) },
  );
}

export function meterUsageHeader(outcome: MeterOutcome): string {
  const percent = usagePercent(outcome.used, outcome.included);
  return `${outcome.meter};used=${outcome.used};included=${outcome.included};limit=${outcome.ceiling};percent=${percent};warning=${warningLevel(percent)}`;
}
