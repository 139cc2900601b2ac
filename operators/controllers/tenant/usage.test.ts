import { describe, expect, it } from "vitest";
import { currentUsage, periodStart, usagePercent, warningLevel } from "./usage.ts";

describe("usage", () => {
  it("computes whole percent, counting use of nothing included as 100", () => {
    expect(usagePercent(799, 1000)).toBe(79);
    expect(usagePercent(800, 1000)).toBe(80);
    expect(usagePercent(0, 0)).toBe(0);
    expect(usagePercent(1, 0)).toBe(100);
    expect(usagePercent(2500, 1000)).toBe(250);
  });

  it("maps percent to the 80/90/100 warning level", () => {
    expect([0, 79, 80, 89, 90, 99, 100, 250].map(warningLevel)).toEqual([0, 0, 80, 80, 90, 90, 100, 100]);
  });

  it("starts monthly meters on the 1st and daily meters at midnight UTC", () => {
    const now = new Date("2026-03-17T23:30:00Z");
    expect(periodStart("quotes", now).toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(periodStart("bulk_jobs", now).toISOString()).toBe("2026-03-17T00:00:00.000Z");
  });

  it("counts only the current period's counters", () => {
    const now = new Date("2026-03-17T12:00:00Z");
    const usage = currentUsage(
      [
        {
          meter: "quotes",
          period: "month",
          included: 1000,
          overageAllowed: false,
          hardCeiling: 1000,
          source: "plan",
        },
      ],
      [
        { meter: "quotes", periodStart: new Date("2026-02-01T00:00:00Z"), used: 999 },
        { meter: "quotes", periodStart: new Date("2026-03-01T00:00:00Z"), used: 905 },
      ],
      now,
    );
    expect(usage).toEqual([
      {
        meter: "quotes",
        periodStart: "2026-03-01T00:00:00Z",
        used: 905,
        included: 1000,
        percent: 90,
        level: 90,
      },
    ]);
  });
});
