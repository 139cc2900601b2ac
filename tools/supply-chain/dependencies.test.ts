// Dependency alerts from OSV data and the SBOM, with the real tools: osv-scanner (built from its Go
// module) offline against the committed advisory snapshot flags the known-vulnerable fixture
// lockfile and names the advisory; the project's lockfile is scanned the same way; cyclonedx-npm
// writes a CycloneDX SBOM of the lockfile.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scanLockfile, writeSbom } from "./dependencies.ts";
import { REPO_ROOT } from "./secret-scan.ts";

const out = mkdtempSync(join(tmpdir(), "deps-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("dependency alerts", () => {
  it("fire for a lockfile pinning a vulnerable lodash, naming the package and the advisory", () => {
    const scan = scanLockfile(
      join(REPO_ROOT, "tools/supply-chain/fixtures/vulnerable-lockfile/package-lock.json"),
      {
        outFile: join(out, "fixture-osv.json"),
      },
    );
    expect(scan.findings).toEqual([{ package: "lodash@4.17.15", advisories: ["GHSA-p6mc-m468-83gw"] }]);
    expect(scan.database).toBe("committed advisory snapshot (tools/supply-chain/advisories)");
    expect(scan.packagesScanned).toBe(1);
  }, 900_000);

  it("stay quiet for the project's own lockfile against the same snapshot", () => {
    const scan = scanLockfile(join(REPO_ROOT, "package-lock.json"), { outFile: join(out, "osv.json") });
    expect(scan.findings).toEqual([]);
    // It did read the lockfile: hundreds of packages were matched against the advisories.
    expect(scan.packagesScanned).toBeGreaterThan(300);
    expect(JSON.parse(readFileSync(join(out, "osv.json"), "utf8"))).toHaveProperty("results");
  }, 900_000);
});

describe("the SBOM", () => {
  it("is CycloneDX JSON listing the lockfile's packages", () => {
    const file = join(out, "sbom.json");
    const { components } = writeSbom(file);
    const bom = JSON.parse(readFileSync(file, "utf8")) as {
      bomFormat: string;
      components: { name: string; version: string; purl: string }[];
    };
    expect(bom.bomFormat).toBe("CycloneDX");
    expect(components).toBeGreaterThan(300);
    expect(bom.components.find((c) => c.name === "fastify")?.purl).toMatch(/^pkg:npm\/fastify@5\./);
  }, 600_000);
});
