import { describe, expect, it } from "vitest";
import { keyOf, keyString, parseKey, sameKey } from "./keys.ts";

describe("object keys", () => {
  it("name namespaced and cluster-scoped objects, and read back what they wrote", () => {
    const tenant = keyOf({ metadata: { name: "acme", namespace: "tenants" } });
    const plan = keyOf({ metadata: { name: "starter" } });
    expect(tenant).toEqual({ namespace: "tenants", name: "acme" });
    expect(plan).toEqual({ name: "starter" });
    expect(keyString(tenant)).toBe("tenants/acme");
    expect(keyString(plan)).toBe("starter");
    expect(parseKey(keyString(tenant))).toEqual(tenant);
    expect(parseKey(keyString(plan))).toEqual(plan);
  });

  it("compare by namespace and name", () => {
    expect(sameKey({ namespace: "a", name: "x" }, { namespace: "a", name: "x" })).toBe(true);
    expect(sameKey({ namespace: "a", name: "x" }, { namespace: "b", name: "x" })).toBe(false);
    expect(sameKey({ name: "x" }, { namespace: "", name: "x" })).toBe(true);
  });
});
