import { describe, expect, it } from "vitest";

import { monthWindow } from "./reconcile.ts";

describe("monthWindow", () => {
  it("reads `previous` as the month that just closed, across a year end", () => {
    expect(monthWindow("previous", new Date("2027-01-02T06:00:00Z"))).toEqual({
      start: new Date("2026-12-01T00:00:00Z"),
      end: new Date("2027-01-01T00:00:00Z"),
    });
    expect(monthWindow("previous", new Date("2026-12-02T06:00:00Z"))).toEqual({
      start: new Date("2026-11-01T00:00:00Z"),
      end: new Date("2026-12-01T00:00:00Z"),
    });
  });

  it("without a month, covers the current month up to the next minute", () => {
    expect(monthWindow(undefined, new Date("2026-12-02T06:00:30Z"))).toEqual({
      start: new Date("2026-12-01T00:00:00Z"),
      end: new Date("2026-12-02T06:01:00Z"),
    });
  });
});
