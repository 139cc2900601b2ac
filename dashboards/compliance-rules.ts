// Alerts on the compliance promises the app's gauges report (app/observability/gauges.ts, read from
// app/compliance/evidence-sources.ts): data subject requests due in 7 days, pen-test findings fixed
// in 14. Each has a warning before the date (a ticket) and an alert once it has passed. The gauges
// are the same on every app replica, so the expressions take the max across them.
import { DSR_DUE_SOON_HOURS, PEN_TEST_DUE_SOON_DAYS } from "../app/compliance/evidence-sources.ts";
import { RUNBOOK, type RuleGroup } from "./rules.ts";

const runbookUrl = (alert: string) => `${RUNBOOK}#${alert.toLowerCase()}`;

export function complianceRuleGroups(): RuleGroup[] {
  return [
    {
      name: "platform:compliance",
      rules: [
        {
          alert: "DataSubjectRequestDueSoon",
          expr: `max(dsr_requests_open{due="due_soon"}) > 0`,
          for: "5m",
          labels: { severity: "ticket" },
          annotations: {
            summary: `{{ $value }} data subject request(s) are due within ${DSR_DUE_SOON_HOURS} hours`,
            description:
              "Requests must be completed within 7 days of receipt. Find them with `npm run dsr -- status`: an unverified one needs its requester verified, a verified one means the runner has not fulfilled it.",
            runbook_url: runbookUrl("DataSubjectRequestDueSoon"),
          },
        },
        {
          alert: "DataSubjectRequestOverdue",
          expr: `max(dsr_requests_open{due="overdue"}) > 0`,
          for: "5m",
          labels: { severity: "page" },
          annotations: {
            summary: "{{ $value }} data subject request(s) are past their 7-day due date",
            description:
              "The promise to customers is broken for these requests; complete or deny them now (`npm run dsr -- status`).",
            runbook_url: runbookUrl("DataSubjectRequestOverdue"),
          },
        },
        {
          alert: "PenTestFindingFixDueSoon",
          expr: `max by (finding_severity) (pen_test_findings_open{due="due_soon"}) > 0`,
          for: "5m",
          labels: { severity: "ticket" },
          annotations: {
            summary: `{{ $value }} open {{ $labels.finding_severity }} pen-test finding(s) must be fixed within ${PEN_TEST_DUE_SOON_DAYS} days`,
            description:
              "Findings are fixed within 14 days of being found. List them with `npm run pentest -- list`; close each with its resolution.",
            runbook_url: runbookUrl("PenTestFindingFixDueSoon"),
          },
        },
        {
          alert: "PenTestFindingOverdue",
          expr: `max by (finding_severity) (pen_test_findings_open{due="overdue"}) > 0`,
          for: "5m",
          labels: { severity: "ticket" },
          annotations: {
            summary:
              "{{ $value }} open {{ $labels.finding_severity }} pen-test finding(s) are past their 14-day fix date",
            description:
              "The fix SLA is missed: the SOC 2 evidence lists these as failing. Fix and close them (`npm run pentest -- close`).",
            runbook_url: runbookUrl("PenTestFindingOverdue"),
          },
        },
      ],
    },
  ];
}
