import { describe, expect, it } from "vitest";
import type { KubeObject, ObjectMeta } from "../api/types.ts";
import {
  and,
  fieldChanged,
  finalizersChanged,
  generationChanged,
  not,
  or,
  specOrMetadataChanged,
} from "./predicates.ts";

type WithTenantId = KubeObject & { status?: { tenantId?: string } };

const object = (metadata: Partial<ObjectMeta>, status?: { tenantId?: string }): WithTenantId => ({
  metadata: { name: "acme", namespace: "tenants", generation: 1, ...metadata },
  status,
});

describe("predicates", () => {
  const before = object({ finalizers: ["a"] }, { tenantId: undefined });

  it("a status write alone wakes nothing that only reads spec and metadata", () => {
    const statusWritten = object({ finalizers: ["a"] }, { tenantId: "t-1" });
    expect(specOrMetadataChanged(statusWritten, before)).toBe(false);
    expect(generationChanged(statusWritten, before)).toBe(false);
  });

  it("a spec edit (new generation), deletion, label or annotation change wakes it", () => {
    expect(specOrMetadataChanged(object({ generation: 2, finalizers: ["a"] }), before)).toBe(true);
    expect(
      specOrMetadataChanged(object({ finalizers: ["a"], deletionTimestamp: "2026-01-01T00:00:00Z" }), before),
    ).toBe(true);
    expect(specOrMetadataChanged(object({ finalizers: ["a"], labels: { tier: "gold" } }), before)).toBe(true);
    expect(specOrMetadataChanged(object({ finalizers: ["a"], annotations: { note: "x" } }), before)).toBe(
      true,
    );
  });

  it("adding our own finalizer can be ignored; removing it, or any other change, cannot", () => {
    const ours = finalizersChanged({ ignoreAdded: "ours" });
    expect(ours(object({ finalizers: ["a", "ours"] }), before)).toBe(false);
    expect(ours(object({ finalizers: ["a"] }), object({ finalizers: ["a", "ours"] }))).toBe(true);
    expect(ours(object({ finalizers: ["a", "b"] }), before)).toBe(true);
    expect(finalizersChanged()(object({ finalizers: ["a", "ours"] }), before)).toBe(true);
  });

  it("fieldChanged compares a selected value, and the combinators combine", () => {
    const tenantId = fieldChanged<WithTenantId>((o) => o.status?.tenantId);
    const written = object({ finalizers: ["a"] }, { tenantId: "t-1" });
    expect(tenantId(written, before)).toBe(true);
    expect(tenantId(written, written)).toBe(false);
    const respec = object({ generation: 2, finalizers: ["a"] });
    expect(or(generationChanged, tenantId)(written, before)).toBe(true);
    expect(and(generationChanged, tenantId)(written, before)).toBe(false);
    expect(and(generationChanged, not(tenantId))(respec, before)).toBe(true);
    expect(or()(respec, before)).toBe(false);
    expect(and()(respec, before)).toBe(true);
  });
});
