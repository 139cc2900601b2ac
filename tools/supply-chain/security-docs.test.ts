// docs/security.md is generated from the configuration it describes; a change to a control, a
// rotation window, an allowlist or the game day figures must regenerate it (npm run security:docs).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderSecurityDoc, SECURITY_DOC } from "./security-docs.ts";

describe("docs/security.md", () => {
  it("is current with the configuration (run npm run security:docs)", async () => {
    expect(readFileSync(SECURITY_DOC, "utf8")).toBe(await renderSecurityDoc());
  });

  it("carries the measured DR figures and every control's owner", async () => {
    const doc = await renderSecurityDoc();
    expect(doc).toMatch(/Planned region flip: .*RTO \d+(\.\d+)? s/);
    expect(doc).toMatch(/Loss of the primary database: .*RTO \d+(\.\d+)? s/);
    expect(doc).toMatch(
      /\| CC6\.1-tenant-isolation: Tenants cannot reach each other's rows +\| platform-data +\|/,
    );
    expect(doc).toContain("`sk_test_4eC39HqLyjWDarjtT1zdp7dc`");
  });
});
