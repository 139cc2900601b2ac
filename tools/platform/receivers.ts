// What the runner delivers to, for tests: a real SMTP server (smtp-server, messages parsed with
// mailparser) whose answer per recipient the test decides, and an ops webhook receiver. Both speak the
// real protocols to the real clients (nodemailer, fetch); nothing in the runner is replaced.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  at: number;
  /** The envelope's recipients (RCPT TO), which is where the mail actually went. */
  rcptTo: string[];
  mail: ParsedMail;
}

/** 250 accepts the recipient; 4xx asks to try later; 5xx refuses for good. */
export type SmtpAnswer = 250 | 421 | 451 | 550 | 553;

export class Mailbox {
  readonly received: ReceivedMail[] = [];
  readonly attempts = new Map<string, number>();
  answer: (recipient: string, attempt: number) => SmtpAnswer = () => 250;
  url = "";
  readonly server: SMTPServer;

  constructor() {
    this.server = new SMTPServer({
      // Plain SMTP on loopback: nodemailer sends without upgrading when STARTTLS is not offered.
      disabledCommands: ["STARTTLS", "AUTH"],
      authOptional: true,
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const recipient = address.address.toLowerCase();
        const attempt = (this.attempts.get(recipient) ?? 0) + 1;
        this.attempts.set(recipient, attempt);
        const code = this.answer(recipient, attempt);
        if (code === 250) return callback();
        const text = code >= 500 ? "5.1.1 mailbox unavailable" : "4.7.1 try again later";
        return callback(Object.assign(new Error(text), { responseCode: code }));
      },
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (mail) => {
            this.received.push({
              at: Date.now(),
              rcptTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              mail,
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
  }

  to(recipient: string): ReceivedMail[] {
    return this.received.filter((r) => r.rcptTo.includes(recipient.toLowerCase()));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(resolve));
  }
}

export interface OpsDelivery {
  at: number;
  idempotencyKey: string | undefined;
  body: Record<string, unknown>;
}

/** An ops webhook whose HTTP answer per delivery the test decides. */
export class OpsWebhook {
  readonly deliveries: OpsDelivery[] = [];
  answer: (body: Record<string, unknown>, attempt: number) => number = () => 200;
  url = "";
  readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      void read(request).then((text) => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const key = request.headers["idempotency-key"] as string | undefined;
        this.deliveries.push({ at: Date.now(), idempotencyKey: key, body });
        const attempt = this.deliveries.filter((d) => d.idempotencyKey === key).length;
        response.writeHead(this.answer(body, attempt)).end();
      });
    });
  }

  events(event: string): Record<string, unknown>[] {
    return this.deliveries.filter((d) => d.body.event === event).map((d) => d.body);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ops`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => resolve(text));
  });
}
