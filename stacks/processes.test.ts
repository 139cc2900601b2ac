// Which process a container starts, told from its command the way the stacks may write it, and the
// start-up checks the deploy contract holds its environment against.
import { existsSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "./plan.ts";
import { PROCESSES, processOfContainer } from "./processes.ts";

const url = "postgres://freight_owner:secret@db.internal:5432/freight";

describe("processOfContainer", () => {
  it("reads `node <entry>` and `npm run <script> -- args` alike", () => {
    const direct = processOfContainer({ name: "api", command: ["node", "app/server.ts"] });
    expect([direct.process.id, direct.via]).toEqual(["quote-api", "command"]);

    const scripted = processOfContainer({
      name: "migrate",
      command: ["npm", "run", "migrate", "--", "--database-url", url],
    });
    expect([scripted.process.id, scripted.args]).toEqual(["migrations", ["--database-url", url]]);
    expect(scripted.process.parse({}, scripted.args)).toEqual({ MIGRATIONS_DATABASE_URL: url });

    const withArgs = processOfContainer({
      name: "reconcile",
      command: ["node", "--no-warnings", "app/billing/reconcile.ts"],
      args: ["--month", "2026-11"],
    });
    expect([withArgs.process.id, withArgs.args]).toEqual(["billing-reconcile", ["--month", "2026-11"]]);
  });

  it("falls back to the image's default command only for containers that set none", () => {
    expect(processOfContainer({ name: "quote-api" }).via).toBe("image default");
    expect(() => processOfContainer({ name: "sidecar" })).toThrow(
      /sets no command and its image default is unknown/,
    );
    expect(() => processOfContainer({ name: "x", command: ["sh", "-c", "node app/server.ts"] })).toThrow(
      /runs `sh -c node app\/server.ts`, which is none of the processes/,
    );
  });

  it("has one row per entry file, each an existing file", () => {
    const entries = PROCESSES.map((p) => p.entry);
    expect(new Set(entries).size).toBe(entries.length);
    expect(entries.filter((e) => !existsSync(path.join(REPO_ROOT, e)))).toEqual([]);
  });

  it("refuses what the scripts' own main() refuses, naming every problem", () => {
    const byId = (id: string) => PROCESSES.find((p) => p.id === id)!;
    expect(() => byId("usage-warnings").parse({}, [])).toThrow(/OPERATOR_DATABASE_URL_FILE: is required/);
    expect(() => byId("billing-reconcile").parse({}, ["--month", "November"])).toThrow(
      /--month must be YYYY-MM[\s\S]*BILLING_DATABASE_URL_FILE: [\s\S]*STRIPE_SECRET_KEY_FILE: /,
    );
    expect(() => byId("exec-report").parse({ OPS_DATABASE_URL: url }, [])).toThrow(
      /exactly one of --metrics-url, --metrics-file or --prometheus-url/,
    );
    expect(() => byId("quote-api").parse({ DATABASE_URL: url, BILLING: "on" }, [])).toThrow(
      /STRIPE_WEBHOOK_SECRET_FILE: is required: the path of a file holding STRIPE_WEBHOOK_SECRET \(when BILLING=on/,
    );
  });
});
