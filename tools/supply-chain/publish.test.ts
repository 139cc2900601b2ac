// The publish command's bad inputs, as CI would meet them: each names the fix and uploads nothing
// (no S3 is reachable at all here, so reaching one would fail differently). The upload itself is
// tested against moto in app/compliance/evidence.test.ts, where the evidence reads it back.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./secret-scan.ts";

const dir = mkdtempSync(join(tmpdir(), "publish-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function publish(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, "tools/supply-chain/publish.ts"), ...args], {
    encoding: "utf8",
    // An endpoint nothing listens on: a command that got past its checks would fail to connect.
    env: { PATH: process.env["PATH"]!, AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9", ...env },
    timeout: 60_000,
  });
  return { status: run.status, stderr: run.stderr };
}

describe("npm run supply-chain:publish", () => {
  it("refuses a missing destination or a malformed one, naming the form", () => {
    expect(publish([])).toEqual({
      status: 2,
      stderr: expect.stringContaining(
        "no destination: pass --to s3://<bucket>/<prefix> or set SUPPLY_CHAIN_S3_URI",
      ),
    });
    expect(publish(["--to", "https://bucket/supply-chain"])).toEqual({
      status: 2,
      stderr: expect.stringContaining("--to must be s3://<bucket>/<prefix>"),
    });
    expect(publish(["--to", "s3://bucket-a/supply-chain", "--release", "a/b"])).toEqual({
      status: 2,
      stderr: expect.stringContaining('release "a/b" must be one path segment'),
    });
  });

  it("refuses reports that are missing or not what sbom and deps:check write", () => {
    const to = ["--to", "s3://bucket-a/supply-chain", "--release", "v1", "--from", dir];
    expect(publish(to)).toEqual({
      status: 1,
      stderr: expect.stringContaining(`${join(dir, "sbom.json")} does not exist: run npm run sbom first`),
    });
    writeFileSync(join(dir, "sbom.json"), JSON.stringify({ bomFormat: "SPDX" }));
    expect(publish(to)).toEqual({
      status: 1,
      stderr: expect.stringContaining(`${join(dir, "sbom.json")} is not what npm run sbom writes`),
    });
    writeFileSync(join(dir, "sbom.json"), JSON.stringify({ bomFormat: "CycloneDX" }));
    writeFileSync(join(dir, "osv.json"), "{ not json");
    expect(publish(to)).toEqual({
      status: 1,
      stderr: expect.stringContaining(`${join(dir, "osv.json")} is not JSON: run npm run deps:check again`),
    });
  });
});
