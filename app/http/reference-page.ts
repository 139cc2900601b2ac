// The API reference for people, rendered on the server from the OpenAPI document: one HTML page with
// a small inline stylesheet and no script, so it loads from the app itself with nothing to fetch.
import type { OpenApiDocument, Operation } from "./openapi.ts";
import { PROBLEM_TYPES, PROBLEM_TYPE_SLUGS } from "./problem-types.ts";

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1d232b}
h2{border-bottom:1px solid #ccd;margin-top:2.5rem}h3{margin:1.5rem 0 .25rem}code,pre{font:13px ui-monospace,monospace}
pre{background:#f4f5f7;padding:.5rem;overflow:auto;max-height:24rem}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #dde;padding:.25rem .5rem;text-align:left;vertical-align:top}
.m{display:inline-block;min-width:3.5rem;font-weight:700}.GET{color:#05668d}.POST{color:#2a7d2e}`;

function escape(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Descriptions use Markdown code spans; the page shows them as code. */
function prose(text: unknown): string {
  return escape(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

function anchor(method: string, path: string): string {
  return `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
}

function schemaBlock(schema: unknown): string {
  return `<details><summary>schema</summary><pre>${escape(JSON.stringify(schema, null, 2))}</pre></details>`;
}

function operationSection(method: string, path: string, op: Operation): string {
  const parts = [
    `<h3 id="${anchor(method, path)}"><span class="m ${method}">${method}</span> <code>${escape(path)}</code></h3>`,
    `<p>${escape(op.summary)}${op.description ? `. ${prose(op.description)}` : ""}</p>`,
    `<p>Auth: ${op.security.length === 0 ? "none" : op.security.some((s) => Object.keys(s).length === 0) ? "API key optional" : "API key (Bearer)"}</p>`,
  ];
  const params = op.parameters.map((p) =>
    "$ref" in p
      ? `<tr><td><code>Idempotency-Key</code></td><td>header</td><td>no</td><td>retry-safe POST</td></tr>`
      : `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? "yes" : "no"}</td><td>${escape(p.description ?? JSON.stringify(p.schema))}</td></tr>`,
  );
  if (params.length)
    parts.push(
      `<table><tr><th>parameter</th><th>in</th><th>required</th><th>about</th></tr>${params.join("")}</table>`,
    );
  if (op.requestBody) {
    const content = op.requestBody.content as Record<string, { schema: unknown }>;
    for (const [type, media] of Object.entries(content))
      parts.push(`<p>Body (<code>${escape(type)}</code>)</p>${schemaBlock(media.schema)}`);
  }
  const rows = Object.entries(op.responses).map(([status, response]) => {
    const slugs = op["x-problem-types"].filter((slug) =>
      (PROBLEM_TYPES[slug].statuses as readonly number[]).includes(Number(status)),
    );
    const body = Object.entries(response.content ?? {}).find(([type]) => type !== "application/problem+json");
    return `<tr><td>${escape(status)}</td><td>${escape(response.description)}${body ? schemaBlock(body[1].schema) : ""}</td><td>${slugs
      .map((slug) => `<a href="#problem-${slug}"><code>${slug}</code></a>`)
      .join(" ")}</td><td>${Object.keys(response.headers ?? {})
      .map((h) => `<code>${escape(h)}</code>`)
      .join(" ")}</td></tr>`;
  });
  parts.push(
    `<table><tr><th>status</th><th>answer</th><th>problem types</th><th>headers</th></tr>${rows.join("")}</table>`,
  );
  return parts.join("\n");
}

export function renderReferencePage(doc: OpenApiDocument): string {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );
  const tags = [...new Set(operations.map(({ op }) => op.tags[0] ?? ""))];
  const headers = Object.entries(doc.components.headers ?? {}) as [string, { description: string }][];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(doc.info.title)} reference</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head><body>
<h1>${escape(doc.info.title)} <small>${escape(doc.info.version)}</small></h1>
<p>${prose(doc.info.description)} The machine-readable contract is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<h2>Authentication</h2><p>Send a tenant API key as <code>Authorization: Bearer fk_live_…</code> (or <code>X-API-Key</code>). Routes marked "none" need no key.</p>
<h2>Errors</h2><p>Every error is <code>application/problem+json</code> (RFC 9457): <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code> saying what to do, and for invalid fields <code>errors</code> naming each field. The <a href="#problems">problem types</a> are listed below.</p>
<h2>Headers</h2><table><tr><th>header</th><th>about</th></tr>${headers.map(([name, h]) => `<tr><td><code>${escape(name)}</code></td><td>${prose(h.description)}</td></tr>`).join("")}
<tr><td><code>Idempotency-Key</code> (request)</td><td>${prose((doc.components.parameters?.IdempotencyKey as { description: string }).description)}</td></tr></table>
<h2>Routes</h2><ul>${operations.map(({ method, path, op }) => `<li><a href="#${anchor(method, path)}">${method} ${escape(path)}</a>: ${escape(op.summary)}</li>`).join("")}</ul>
${tags
  .map(
    (tag) =>
      `<h2>${escape(tag)}</h2>${operations
        .filter(({ op }) => op.tags[0] === tag)
        .map(({ method, path, op }) => operationSection(method, path, op))
        .join("\n")}`,
  )
  .join("\n")}
<h2 id="problems">Problem types</h2><table><tr><th>type</th><th>title</th><th>status</th><th>what to do</th></tr>
${PROBLEM_TYPE_SLUGS.map((slug) => `<tr id="problem-${slug}"><td><code>${slug}</code></td><td>${escape(PROBLEM_TYPES[slug].title)}</td><td>${PROBLEM_TYPES[slug].statuses.join(", ")}</td><td>${prose(PROBLEM_TYPES[slug].description)}</td></tr>`).join("")}</table>
</body></html>`;
}
