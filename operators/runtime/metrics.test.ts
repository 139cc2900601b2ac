import { describe, expect, it } from "vitest";
import { resourceOfPath } from "./metrics.ts";

describe("resourceOfPath", () => {
  it("labels requests by resource, never by object name or namespace", () => {
    expect(resourceOfPath("/apis/platform.freight.dev/v1alpha1/namespaces/tenants/tenants/acme/status")).toBe(
      "tenants/status",
    );
    expect(resourceOfPath("/apis/platform.freight.dev/v1alpha1/plans?limit=500")).toBe("plans");
    expect(
      resourceOfPath(
        "/apis/coordination.k8s.io/v1/namespaces/freight-system/leases/freight-operators-leader",
      ),
    ).toBe("leases");
    expect(resourceOfPath("/api/v1/namespaces/tenants/events")).toBe("events");
    expect(resourceOfPath("/api/v1/namespaces")).toBe("namespaces");
  });
});
