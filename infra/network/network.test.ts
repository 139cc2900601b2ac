import { describe, expect, it } from "vitest";

import { subnetCidr } from "./network.ts";

describe("subnetCidr", () => {
  it("carves non-overlapping /20s out of a /16, public first then private", () => {
    expect([0, 1, 2].map((i) => subnetCidr("10.20.0.0/16", i))).toEqual([
      "10.20.0.0/20",
      "10.20.16.0/20",
      "10.20.32.0/20",
    ]);
    expect([8, 9, 10].map((i) => subnetCidr("10.20.0.0/16", i))).toEqual([
      "10.20.128.0/20",
      "10.20.144.0/20",
      "10.20.160.0/20",
    ]);
  });

  it("works for smaller VPCs too", () => {
    expect(subnetCidr("172.16.32.0/20", 10)).toBe("172.16.42.0/24");
  });
});
