import { describe, expect, it } from "vitest";
import { keyOf, keyString, parseKey } from "./keys.ts";

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
});
