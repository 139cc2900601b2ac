// The Grafana PostgreSQL datasource as External Secrets renders it from the freight_ops login's
// secret: the password survives any character the rotation may pick, the file logs into a real
// PostgreSQL as freight_ops and answers the business panels' SQL, and every SQL panel of the
// dashboards names exactly this datasource (a panel on another uid would stay blank).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { BUSINESS_QUERIES, bindTimeRange } from "../../dashboards/business.ts";
import { grafanaDashboards } from "../../dashboards/index.ts";
import { analyticsDatasourceTemplate, type AnalyticsDatabase } from "./grafana-datasource.ts";

interface Provisioned {
  datasources: {
    uid: string;
    type: string;
    url: string;
    user: string;
    jsonData: { database: string };
    secureJsonData: { password: string };
  }[];
}

/** External Secrets' rendering of `{{ .key | printf "%q" }}`; anything else in the template fails. */
function render(template: string, values: Record<string, string>): Provisioned {
  const text = template.replace(/\{\{ \.(\w+) \| printf "%q" \}\}/g, (_m, key: string) =>
    JSON.stringify(values[key]),
  );
  expect(text).not.toContain("{{");
  return parse(text) as Provisioned;
}

let db: TestDatabase;
beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
});
afterAll(async () => db?.stop());

describe("Grafana's analytics datasource", () => {
  it("carries any password the rotation may choose, verbatim", () => {
    const password = `a"b\\c'd:e#f {g} %q $h`;
    const [ds] = render(
      analyticsDatasourceTemplate({
        host: "replica.example",
        port: 5432,
        database: "freight",
        postgresMajor: 16,
      }),
      { username: "freight_ops_clone", password },
    ).datasources;
    expect(ds?.secureJsonData.password).toBe(password);
    expect(ds?.user).toBe("freight_ops_clone");
    expect(ds?.url).toBe("replica.example:5432");
  });

  it("logs in as freight_ops and answers the business panels' SQL", async () => {
    const ops = new URL(db.urls.ops);
    const target: AnalyticsDatabase = {
      host: ops.hostname,
      port: Number(ops.port),
      database: ops.pathname.slice(1),
      postgresMajor: 15,
    };
    const [ds] = render(analyticsDatasourceTemplate(target), {
      username: decodeURIComponent(ops.username),
      password: decodeURIComponent(ops.password),
    }).datasources;
    const [host, port] = ds!.url.split(":");
    const client = new pg.Client({
      host,
      port: Number(port),
      user: ds!.user,
      password: ds!.secureJsonData.password,
      database: ds!.jsonData.database,
    });
    await client.connect();
    try {
      expect((await client.query("SELECT current_user AS u")).rows[0].u).toBe("freight_ops");
      const now = new Date();
      for (const query of BUSINESS_QUERIES) {
        const { rows } = await client.query(
          bindTimeRange(query.sql, new Date(now.getTime() - 30 * 86_400_000), now),
        );
        expect(rows, query.id).toHaveLength(1);
      }
    } finally {
      await client.end();
    }
  });

  it("is the datasource every SQL panel of the dashboards names", () => {
    const [ds] = render(
      analyticsDatasourceTemplate({ host: "h", port: 5432, database: "freight", postgresMajor: 16 }),
      { username: "u", password: "p" },
    ).datasources;
    type Panel = { title: string; datasource?: object; targets?: { rawSql?: string; datasource?: object }[] };
    const sqlPanels = Object.values(grafanaDashboards()).flatMap((d) =>
      ((d as { panels: Panel[] }).panels ?? []).filter((p) => p.targets?.some((t) => t.rawSql)),
    );
    expect(sqlPanels.length).toBe(BUSINESS_QUERIES.length);
    for (const panel of sqlPanels) {
      expect(panel.datasource, panel.title).toEqual({ type: ds!.type, uid: ds!.uid });
      for (const t of panel.targets ?? [])
        expect(t.datasource, panel.title).toEqual({ type: ds!.type, uid: ds!.uid });
    }
  });
});
