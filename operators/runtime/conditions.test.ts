import { describe, expect, it } from "vitest";
import { setCondition } from "./conditions.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:05:00Z");

describe("setCondition", () => {
  it("adds a condition with the transition time and generation", () => {
    const list = setCondition([], { type: "Ready", status: "True", reason: "Applied", message: "ok" }, 3, t0);
    expect(list).toEqual([
      {
        type: "Ready",
        status: "True",
        reason: "Applied",
        message: "ok",
        observedGeneration: 3,
        lastTransitionTime: "2026-01-01T00:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime when only the reason, message or generation change", () => {
    const first = setCondition(
      [],
      { type: "Ready", status: "False", reason: "PlanNotFound", message: "a" },
      1,
      t0,
    );
    const second = setCondition(
      first,
      { type: "Ready", status: "False", reason: "Other", message: "b" },
      2,
      t1,
    );
    expect(second[0]).toMatchObject({
      reason: "Other",
      message: "b",
      observedGeneration: 2,
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
  });

  it("moves lastTransitionTime when the status flips, and leaves other types alone", () => {
    let list = setCondition(
      [],
      { type: "PlanResolved", status: "True", reason: "Found", message: "" },
      1,
      t0,
    );
    list = setCondition(list, { type: "Ready", status: "False", reason: "Pending", message: "" }, 1, t0);
    const flipped = setCondition(
      list,
      { type: "Ready", status: "True", reason: "Applied", message: "" },
      1,
      t1,
    );
    expect(flipped.map((c) => [c.type, c.lastTransitionTime])).toEqual([
      ["PlanResolved", "2026-01-01T00:00:00Z"],
      ["Ready", "2026-01-01T00:05:00Z"],
    ]);
    expect(list[1]!.status).toBe("False"); // input not modified
  });
});
