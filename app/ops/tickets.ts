// On-call's view of support tickets: every unresolved ticket, the one due soonest first (a response
// deadline while unanswered, then the resolution deadline), breaches marked; and the two steps on-call
// records, the first response and the resolution. Alert tickets resolve themselves when their alert
// group resolves (app/routes/support.ts); tenant tickets are resolved here.
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight npm run tickets [-- list]
//   npm run tickets -- respond <ticket-id>
//   npm run tickets -- resolve <ticket-id>
//
// Exit codes: 0 done; 1 refused (no such unresolved ticket), nothing changed; 2 usage; 78 configuration.
import { z } from "zod";
import { createPool } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";
import { onCallTickets, recordTicketProgress, type OnCallTicket } from "../support/tickets.ts";

const USAGE = `usage:
  npm run tickets [-- list]              unresolved tickets, the one due soonest first
  npm run tickets -- respond <ticket-id> record the first response (stops the response clock)
  npm run tickets -- resolve <ticket-id> resolve the ticket`;

export const ticketsEnv = defineEnv({
  process: "tickets command",
  schema: z.object({
    OPERATOR_DATABASE_URL: postgresUrl(
      "the freight_operator role's connection URL",
      "postgres://freight_operator:...@host:5432/freight",
    ),
  }),
  secrets: ["OPERATOR_DATABASE_URL"],
});

export function parseTicketsConfig(env: Env): { OPERATOR_DATABASE_URL: string } {
  return ticketsEnv.parse(env);
}

/** One line per ticket: what is due when, and whether it is already late. */
export function formatOnCall(tickets: OnCallTicket[], at = new Date()): string {
  if (!tickets.length) return "No unresolved tickets.";
  return tickets
    .map((t) => {
      const minutes = Math.round((t.nextDueAt.getTime() - at.getTime()) / 60_000);
      const when = minutes < 0 ? `BREACHED ${-minutes} min ago` : `due in ${minutes} min`;
      const who = t.tenant ?? "platform (alert)";
      return `${t.priority} ${t.nextDue.padEnd(10)} ${when.padEnd(24)} ${t.id} ${who}: ${t.subject}`;
    })
    .join("\n");
}

export async function runTickets(argv: string[], env: Env, out = console.log): Promise<number> {
  const [command = "list", id, ...rest] = argv;
  if (
    !["list", "respond", "resolve"].includes(command) ||
    rest.length ||
    (command !== "list") !== Boolean(id)
  ) {
    out(USAGE);
    return 2;
  }
  if (id && !/^[0-9a-f-]{36}$/i.test(id)) {
    out(`'${id}' is not a ticket id (a UUID from \`npm run tickets\`).`);
    return 2;
  }
  let config: { OPERATOR_DATABASE_URL: string };
  try {
    config = parseTicketsConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    out(error.message);
    return EX_CONFIG;
  }
  const pool = createPool(config.OPERATOR_DATABASE_URL, 1);
  try {
    if (command === "list") {
      out(formatOnCall(await onCallTickets(pool)));
      return 0;
    }
    const done = await recordTicketProgress(pool, id!, command as "respond" | "resolve");
    if (!done) {
      out(
        command === "respond"
          ? `Ticket ${id} is not open (unknown, already answered or resolved); nothing changed.`
          : `Ticket ${id} is unknown or already resolved; nothing changed.`,
      );
      return 1;
    }
    out(`Ticket ${id} is ${done.state}.`);
    return 0;
  } finally {
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await runTickets(process.argv.slice(2), process.env);
