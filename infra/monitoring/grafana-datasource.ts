// Grafana's PostgreSQL datasource for the business panels: the region's analytics database (the
// primary's in-region analytics replica; on the secondary, its own replica, which serves no traffic
// while the region stands by), logged in as the read-only `freight_ops` role and used by nothing
// else. The login rotates, so the provisioning file is an External Secrets template over the
// login's secret (`username` follows the multi-user rotation, `password` its current value), and
// Grafana's datasource sidecar reloads it when External Secrets refreshes it.
import { ANALYTICS_DATASOURCE_UID, POSTGRES } from "../../dashboards/panels.ts";
import { yamlTemplate } from "./secret-template.ts";

/** The label the Grafana sidecar selects datasource Secrets by. */
export const DATASOURCE_LABEL = "grafana_datasource";
export const ANALYTICS_DATASOURCE_SECRET = "grafana-datasource-freight-analytics";
export const ANALYTICS_DATASOURCE_FILE = "freight-analytics.yaml";
export const ANALYTICS_DATASOURCE_NAME = "Freight analytics (freight_ops)";

export interface AnalyticsDatabase {
  host: string;
  port: number;
  database: string;
  /** PostgreSQL major version, e.g. 16: Grafana adapts its SQL macros to it. */
  postgresMajor: number;
}

/** Grafana's datasource provisioning file, with the login given. */
export function analyticsDatasource(
  db: AnalyticsDatabase,
  login: { username: string; password: string },
): Record<string, unknown> {
  return {
    apiVersion: 1,
    datasources: [
      {
        name: ANALYTICS_DATASOURCE_NAME,
        uid: ANALYTICS_DATASOURCE_UID,
        type: POSTGRES.type,
        access: "proxy",
        url: `${db.host}:${db.port}`,
        user: login.username,
        editable: false,
        jsonData: {
          database: db.database,
          // RDS refuses clear-text connections (rds.force_ssl); verify-full would need the RDS CA
          // bundle mounted into Grafana.
          sslmode: "require",
          postgresVersion: db.postgresMajor * 100,
          // Dashboards refresh every few minutes: a handful of connections is plenty for a replica.
          maxOpenConns: 5,
          maxIdleConns: 2,
          connMaxLifetime: 14_400,
        },
        secureJsonData: { password: login.password },
      },
    ],
  };
}

/** The provisioning file as an External Secrets template over the login secret's JSON keys. */
export function analyticsDatasourceTemplate(db: AnalyticsDatabase): string {
  return yamlTemplate(["username", "password"], (value) =>
    analyticsDatasource(db, { username: value.username, password: value.password }),
  );
}
