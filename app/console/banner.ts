// The meter banner: one state for the whole account from what GET /v1/usage reports, the worst meter
// deciding. ok below 80 % of included; warning at 80 and 90 %; critical past included (overage is
// billed, or the free soft-cap grace runs); blocked at the ceiling, where requests of that meter stop.
export type BannerState = "ok" | "warning" | "critical" | "blocked";

export interface UsageMeter {
  meter: string;
  period: "day" | "month";
  resetsAt: string;
  used: number;
  included: number;
  ceiling: number;
  percent: number;
  overage: { allowed: boolean; unitPriceCents: number | null; units: number; billableCents: number };
}

const RANK: Record<BannerState, number> = { ok: 0, warning: 1, critical: 2, blocked: 3 };

export function meterState(meter: UsageMeter): BannerState {
  if (meter.used >= meter.ceiling && meter.ceiling > 0) return "blocked";
  if (meter.used >= meter.included && meter.included > 0) return "critical";
  if (meter.percent >= 80) return "warning";
  return "ok";
}

export interface Banner {
  state: BannerState;
  /** The meter that decided the state (the worst one), when not ok. */
  meter?: UsageMeter;
}

export function bannerFor(meters: UsageMeter[]): Banner {
  let worst: Banner = { state: "ok" };
  for (const meter of meters) {
    const state = meterState(meter);
    if (
      RANK[state] > RANK[worst.state] ||
      (state === worst.state && state !== "ok" && meter.percent > (worst.meter?.percent ?? 0))
    )
      worst = { state, meter };
  }
  return worst;
}

const METER_NAMES: Record<string, string> = {
  quotes: "quotes",
  bulk_jobs: "bulk jobs",
  directory_invites: "directory invites",
};
export const meterName = (meter: string): string => METER_NAMES[meter] ?? meter.replaceAll("_", " ");

/** The banner's sentence, naming what happens next and when it resets. */
export function bannerMessage(banner: Banner): string {
  const m = banner.meter;
  if (!m) return "All meters are below 80 % of what your plan includes.";
  const name = meterName(m.meter);
  const resets = new Date(m.resetsAt).toUTCString().replace(":00 GMT", " UTC");
  switch (banner.state) {
    case "warning":
      return `You have used ${m.percent} % of the ${m.included.toLocaleString("en-US")} ${name} your plan includes this ${m.period}. It resets ${resets}.`;
    case "critical":
      return m.overage.allowed
        ? `You are past the ${m.included.toLocaleString("en-US")} ${name} included this ${m.period}: ${m.overage.units.toLocaleString("en-US")} more are billed as overage so far, up to the ceiling of ${m.ceiling.toLocaleString("en-US")}. It resets ${resets}.`
        : `You are past the ${m.included.toLocaleString("en-US")} ${name} included this ${m.period} (a free grace up to ${m.ceiling.toLocaleString("en-US")}). It resets ${resets}.`;
    case "blocked":
      return `You reached the ceiling of ${m.ceiling.toLocaleString("en-US")} ${name} this ${m.period}: new ${name} are refused until ${resets}. Upgrade, or request an increase.`;
    default:
      return "";
  }
}
