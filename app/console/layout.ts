// The console's page frame: navigation, the dunning and meter banners (on every signed-in page while
// they apply), and the one stylesheet and script every page shares.
import { bannerMessage, type Banner } from "./banner.ts";
import { html, type Html } from "./html.ts";
import { CSRF_FIELD } from "./session.ts";

export interface Frame {
  title: string;
  csrf: string;
  /** Signed in: the tenant's slug, the banners to show. */
  tenant?: { slug: string; plan: string; banner: Banner; dunning: string | null };
  /** A notice after an action (PRG), shown at the top of main. */
  notice?: string;
  /** Errors to show at the top of main (field by field). */
  errors?: string[];
  /** A page's own module beside console.js (under /console/assets/), for what only that page does. */
  script?: string;
}

export const csrfField = (csrf: string): Html =>
  html`<input type="hidden" name="${CSRF_FIELD}" value="${csrf}" />`;

function banners(frame: Frame): Html {
  const tenant = frame.tenant;
  if (!tenant) return html``;
  const { banner } = tenant;
  return html`${
    tenant.dunning
      ? html`<section class="banner banner-dunning" data-banner="dunning" role="alert" aria-label="Billing">
          <p>${tenant.dunning}</p>
          <form method="post" action="/console/billing-portal">
            ${csrfField(frame.csrf)}<button type="submit">Update payment method</button>
          </form>
        </section>`
      : null
  }${
    banner.state !== "ok"
      ? html`<section class="banner banner-${banner.state}" data-banner="meter" data-banner-state="${banner.state}" role="${banner.state === "blocked" ? "alert" : "status"}" aria-label="Usage">
        <p><strong>${banner.state === "warning" ? "Warning" : banner.state === "critical" ? "Overage" : "Blocked"}:</strong> ${bannerMessage(banner)}</p>
        <p class="actions"><a href="/console?drawer=open">Request increase</a>
        <form method="post" action="/console/upgrade">${csrfField(frame.csrf)}<button type="submit">Upgrade</button></form></p>
      </section>`
      : null
  }`;
}

export function page(frame: Frame, body: Html): string {
  const nav = frame.tenant
    ? html`<nav aria-label="Console">
          <ul>
            <li><a href="/console">Usage</a></li>
            <li><a href="/console/start">Get started</a></li>
            <li><a href="/console/api-keys">API keys</a></li>
            <li><a href="/console/bulk">Bulk upload</a></li>
            <li><a href="/console/billing">Billing</a></li>
          </ul>
        </nav>
        <form method="post" action="/sign-out" class="sign-out">
          ${csrfField(frame.csrf)}<button type="submit">Sign out ${frame.tenant.slug}</button>
        </form>`
    : html`<nav aria-label="Site">
        <ul>
          <li><a href="/calculator">Rate calculator</a></li>
          <li><a href="/roi">ROI calculator</a></li>
          <li><a href="/sign-up">Start a trial</a></li>
          <li><a href="/sign-in">Sign in</a></li>
        </ul>
      </nav>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${frame.title} · Freight</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        <script type="module" src="/console/assets/console.js"></script>
        ${frame.script ? html`<script type="module" src="/console/assets/${frame.script}"></script>` : null}
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <p class="brand">Freight</p>
          ${nav}
        </header>
        ${banners(frame)}
        <main id="main">
          <h1>${frame.title}</h1>
          ${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : null}
          ${
            frame.errors?.length
              ? html`<div class="errors" role="alert">
                  <p>Please fix:</p>
                  <ul>
                    ${frame.errors.map((e) => html`<li>${e}</li>`)}
                  </ul>
                </div>`
              : null
          }
          ${body}
        </main>
      </body>
    </html>`.value;
}
