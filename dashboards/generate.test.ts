// The committed dashboards and rule files are what the stacks deploy: they must equal a fresh
// generation, and every panel and alert must explain itself.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GENERATED_DIR, renderGenerated } from "./generate.ts";
import { CONVERSIONS, NPS, REVENUE } from "./business.ts";
import { grafanaDashboards, prometheusRuleGroups } from "./index.ts";
import { ANALYTICS_DATASOURCE_UID } from "./panels.ts";
import { allRuleGroups, isAlertingRule, RUNBOOK } from "./rules.ts";
import { SLOS } from "./slo.ts";

interface PanelJson {
  type: string;
  title: string;
  description?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: { expr?: string; rawSql?: string; datasource?: { type?: string; uid?: string } }[];
}

function panels(file: string): PanelJson[] {
  return (grafanaDashboards()[file] as { panels: PanelJson[] }).panels;
}

function committedFiles(): string[] {
  const top = readdirSync(GENERATED_DIR).filter((f) => f.endsWith(".json"));
  const rules = readdirSync(join(GENERATED_DIR, "rules")).map((f) => `rules/${f}`);
  return [...top, ...rules].sort();
}

describe("generated dashboards and rules", () => {
  it("the committed files equal a fresh generation (run `npm run dashboards:generate` after a change)", async () => {
    const fresh = await renderGenerated();
    expect(committedFiles()).toEqual(Object.keys(fresh).sort());
    for (const [rel, content] of Object.entries(fresh)) {
      expect(readFileSync(join(GENERATED_DIR, rel), "utf8"), `dashboards/generated/${rel} is stale`).toBe(
        content,
      );
    }
  });

  it("exports the dashboards and rule groups the stacks deploy", () => {
    expect(Object.keys(grafanaDashboards()).sort()).toEqual([
      "executive-overview.json",
      "platform-operations.json",
    ]);
    const groups = prometheusRuleGroups().groups as { name: string }[];
    expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
    expect(groups.length).toBeGreaterThanOrEqual(SLOS.length + 2);
  });

  it("documents every panel in one line", () => {
    for (const file of Object.keys(grafanaDashboards())) {
      for (const panel of panels(file).filter((p) => p.type !== "row")) {
        expect(panel.description, `${file}: "${panel.title}" has no definition`).toMatch(/^[^\n]{20,200}$/);
        expect(panel.targets?.length, `${file}: "${panel.title}" has no query`).toBeGreaterThan(0);
      }
    }
  });

  it("lays panels out without overlaps", () => {
    for (const file of Object.keys(grafanaDashboards())) {
      const boxes = panels(file).map((p) => ({ title: p.title, ...p.gridPos! }));
      for (const [i, a] of boxes.entries()) {
        expect(a.x + a.w, `${a.title} is wider than the grid`).toBeLessThanOrEqual(24);
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `${file}: "${a.title}" overlaps "${b.title}"`).toBe(false);
        }
      }
    }
  });

  it("shows the SLO card, conversions and revenue to leadership", () => {
    const titles = panels("executive-overview.json").map((p) => p.title);
    for (const slo of SLOS) {
      expect(titles.some((t) => t.startsWith(slo.title) && !t.includes("budget"))).toBe(true);
      expect(titles).toContain(`${slo.title}: error budget left`);
    }
    expect(titles).toEqual(
      expect.arrayContaining([
        "Trial -> paid",
        "Quote -> book",
        "Directory invite -> onboard",
        "ARPA",
        "Overage share of MRR",
        "Churn",
        "NRR",
        "NPS: trial cohort (day 21)",
        "NPS: paid cohort (day 90)",
      ]),
    );
    const sql = panels("executive-overview.json").filter((p) => p.targets?.[0]?.rawSql);
    // By the uid of the datasource the stacks provision (the analytics replica as freight_ops).
    expect(sql.length).toBe(CONVERSIONS.length + NPS.length + REVENUE.length);
    for (const panel of sql) {
      expect(panel.targets?.[0]?.datasource).toEqual({
        type: "grafana-postgresql-datasource",
        uid: ANALYTICS_DATASOURCE_UID,
      });
    }
  });

  it("shows queue depth, replication lag against the RPO and meter warnings by level to on-call", () => {
    const ops = panels("platform-operations.json");
    const byTitle = (title: string) => ops.find((p) => p.title === title);
    expect(byTitle("Queue depth")?.targets?.[0]?.expr).toContain("jobs_queue_depth");
    expect(byTitle("Replication lag vs RPO")?.targets?.[0]?.expr).toContain("db_replication_lag_seconds");
    expect(byTitle("Tenants at a meter warning level")?.targets?.[0]?.expr).toBe(
      "sum by (level) (meter_warning_tenants)",
    );
  });

  it("pages with the multi-window, multi-burn-rate policy for every SLO", () => {
    const alerts = allRuleGroups()
      .flatMap((g) => g.rules)
      .filter(isAlertingRule);
    for (const slo of SLOS) {
      const page = alerts.find((a) => a.alert === `${slo.alertPrefix}BudgetBurnFast`);
      const ticket = alerts.find((a) => a.alert === `${slo.alertPrefix}BudgetBurnSlow`);
      expect(page?.labels.severity).toBe("page");
      expect(ticket?.labels.severity).toBe("ticket");
      const budget = Number((1 - slo.objective).toFixed(10));
      const threshold = (factor: number) => String(Number((factor * budget).toPrecision(12)));
      for (const [window, factor] of [
        ["1h", 14.4],
        ["5m", 14.4],
        ["6h", 6],
        ["30m", 6],
      ] as const) {
        expect(page?.expr).toContain(
          `slo:sli_error:ratio_rate${window}{slo="${slo.id}"} > ${threshold(factor)}`,
        );
      }
      for (const [window, factor] of [
        ["1d", 3],
        ["2h", 3],
        ["3d", 1],
        ["6h", 1],
      ] as const) {
        expect(ticket?.expr).toContain(
          `slo:sli_error:ratio_rate${window}{slo="${slo.id}"} > ${threshold(factor)}`,
        );
      }
    }
  });

  it("links every alert to a section of the runbook that exists", () => {
    const runbook = readFileSync(join(GENERATED_DIR, "..", "..", RUNBOOK), "utf8");
    const anchors = new Set(
      [...runbook.matchAll(/^#+ (.+)$/gm)].map((m) => (m[1] ?? "").trim().toLowerCase()),
    );
    for (const alert of allRuleGroups()
      .flatMap((g) => g.rules)
      .filter(isAlertingRule)) {
      expect(alert.annotations.runbook_url).toBe(`${RUNBOOK}#${alert.alert.toLowerCase()}`);
      expect(anchors.has(alert.alert.toLowerCase()), `${RUNBOOK} has no "## ${alert.alert}" section`).toBe(
        true,
      );
    }
  });
});
