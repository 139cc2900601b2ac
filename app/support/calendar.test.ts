// The SLA clocks across weekends and holidays: business time is Monday to Friday 14:00-22:00 UTC
// without the support holidays; P1 ignores the calendar.
import { describe, expect, it } from "vitest";
import { addBusinessDays, addBusinessHours, SUPPORT_CALENDAR } from "./calendar.ts";
import { slaDeadlines } from "./tickets.ts";

const at = (iso: string) => new Date(iso);

describe("support calendar", () => {
  it("counts hours inside one business day", () => {
    // Tuesday 2026-12-01, 15:00 UTC + 4 business hours = 19:00 the same day.
    expect(addBusinessHours(at("2026-12-01T15:00:00Z"), 4).toISOString()).toBe("2026-12-01T19:00:00.000Z");
  });

  it("carries the rest of a clock over the night into the next morning", () => {
    // Tuesday 20:00 + 4 h: 2 h that evening, 2 h from Wednesday's 14:00 opening.
    expect(addBusinessHours(at("2026-12-01T20:00:00Z"), 4).toISOString()).toBe("2026-12-02T16:00:00.000Z");
  });

  it("starts a clock opened before hours at the opening", () => {
    expect(addBusinessHours(at("2026-12-01T03:00:00Z"), 1).toISOString()).toBe("2026-12-01T15:00:00.000Z");
  });

  it("skips the weekend", () => {
    // Friday 2026-12-04 20:00 + 1 business day (8 h): 2 h Friday, 6 h Monday -> Monday 20:00.
    expect(addBusinessDays(at("2026-12-04T20:00:00Z"), 1).toISOString()).toBe("2026-12-07T20:00:00.000Z");
    // Opened on Saturday: the clock starts Monday 14:00.
    expect(addBusinessHours(at("2026-12-05T12:00:00Z"), 2).toISOString()).toBe("2026-12-07T16:00:00.000Z");
  });

  it("skips holidays, including a holiday next to a weekend", () => {
    // Thanksgiving 2026-11-26 (Thursday): a ticket opened Wednesday 21:00 with 1 business day runs
    // 1 h Wednesday, then Friday 14:00-21:00.
    expect(addBusinessDays(at("2026-11-25T21:00:00Z"), 1).toISOString()).toBe("2026-11-27T21:00:00.000Z");
    // Christmas 2026-12-25 is a Friday: Thursday 18:00 + 1 business day = Monday 2026-12-28 18:00.
    expect(addBusinessDays(at("2026-12-24T18:00:00Z"), 1).toISOString()).toBe("2026-12-28T18:00:00.000Z");
    // 2027-01-01 (Friday) too: opened Thursday 2026-12-31 22:30 (after hours) + 3 business days
    // = Monday, Tuesday, Wednesday -> Wednesday 2027-01-06 22:00.
    expect(addBusinessDays(at("2026-12-31T22:30:00Z"), 3).toISOString()).toBe("2027-01-06T22:00:00.000Z");
  });

  it("documents its hours and holidays", () => {
    expect(SUPPORT_CALENDAR.closeMinute - SUPPORT_CALENDAR.openMinute).toBe(480);
    expect(SUPPORT_CALENDAR.holidays.has("2026-12-25")).toBe(true);
    expect(() => addBusinessHours(at("2026-12-01T15:00:00Z"), -1)).toThrow(/>= 0/);
  });
});

describe("SLA deadlines", () => {
  it("P1 runs on the clock through a weekend night", () => {
    const { responseDue, resolutionDue } = slaDeadlines("P1", at("2026-12-05T02:00:00Z"));
    expect(responseDue.toISOString()).toBe("2026-12-05T06:00:00.000Z");
    expect(resolutionDue.toISOString()).toBe("2026-12-06T02:00:00.000Z");
  });

  it("P2 answers within 1 business day and P3 within 3, over a weekend and a holiday", () => {
    const friday = at("2026-12-18T16:00:00Z");
    const p2 = slaDeadlines("P2", friday);
    expect(p2.responseDue.toISOString()).toBe("2026-12-21T16:00:00.000Z");
    // 5 business days from Friday 16:00: Mon, Tue, Wed, Thu (Christmas Friday skipped), Mon.
    expect(p2.resolutionDue.toISOString()).toBe("2026-12-28T16:00:00.000Z");
    const p3 = slaDeadlines("P3", friday);
    // Mon 21, Tue 22, Wed 23 -> Wednesday 16:00.
    expect(p3.responseDue.toISOString()).toBe("2026-12-23T16:00:00.000Z");
  });
});
