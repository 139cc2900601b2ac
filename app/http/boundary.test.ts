// The input boundary's inspection on its own: paths named as validation errors name them, strings
// normalised in place, and a pathologically deep value inspected without recursion.
import { describe, expect, it } from "vitest";
import { inspectJson, inspectText, MAX_JSON_DEPTH, refuseActionBody } from "./boundary.ts";
import type { Problem } from "./problem.ts";

describe("inspectJson", () => {
  it("normalises strings to NFC in place and accepts ordinary bodies", () => {
    const body = { lanes: [{ origin: "Montre\u0301al, QC" }], note: "ok" };
    const { value, errors } = inspectJson(body, "(body)");
    expect(errors).toEqual([]);
    expect((value as typeof body).lanes[0]?.origin).toBe("Montréal, QC");
    expect(inspectJson("e\u0301", "(body)").value).toBe("é");
  });

  it("names every field holding NUL or an unpaired surrogate, keys included", () => {
    const { errors } = inspectJson(
      { a: "x\u0000", b: ["ok", "\ud800"], "c\u0000": 1, d: { e: "\udc00z" } },
      "(body)",
    );
    expect(errors.map((e) => e.field).sort()).toEqual(["a", "b.1", "c\u0000", "d.e"]);
    expect(errors.find((e) => e.field === "b.1")?.message).toMatch(/unpaired UTF-16 surrogate/);
    expect(inspectJson("\u0000", "(body)").errors).toEqual([
      { field: "(body)", message: expect.stringMatching(/NUL/) },
    ]);
  });

  it("refuses nesting beyond the budget without overflowing the stack itself", () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const { errors } = inspectJson({ lanes: deep }, "(body)");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(new RegExp(`nested more than ${MAX_JSON_DEPTH} levels`));
    const shallow = inspectJson({ lanes: [[[[["fine"]]]]] }, "(body)");
    expect(shallow.errors).toEqual([]);
  });

  it("reports a bounded number of problems for a hostile body", () => {
    const { errors } = inspectJson(
      Array.from({ length: 10_000 }, () => "\u0000"),
      "(body)",
    );
    expect(errors).toHaveLength(20);
  });
});

describe("inspectText", () => {
  it("names the line and row of a NUL byte, counting quoted line breaks as one row", () => {
    expect(inspectText("a,b\n1,2\n3,\u0000", "(file)")[0]?.message).toMatch(/^line 3 \(row 2\)/);
    expect(inspectText('a,b\n"x\ny",2\n3,\u0000', "(file)")[0]?.message).toMatch(/^line 4 \(row 2\)/);
    expect(inspectText("a\u0000,b\n", "(file)")[0]?.message).toMatch(/^line 1 \(the header\)/);
    expect(inspectText("a,b\n1,2\n", "(file)")).toEqual([]);
  });
});

describe("refuseActionBody", () => {
  function refusal(body: unknown): unknown {
    try {
      refuseActionBody(body, "Accepting an invite");
      return undefined;
    } catch (error) {
      return (error as Problem).body;
    }
  }

  it("accepts no body or {}, and refuses anything else with 422, naming the fields", () => {
    expect(refusal(undefined)).toBeUndefined();
    expect(refusal({})).toBeUndefined();
    expect(refusal({ status: "declined" })).toMatchObject({
      status: 422,
      errors: [{ field: "status", message: expect.stringMatching(/^Accepting an invite takes no body/) }],
    });
    expect(refusal([1])).toMatchObject({ status: 422, errors: [{ field: "(body)" }] });
  });
});
