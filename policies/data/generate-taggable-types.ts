// Regenerates aws-taggable-types.json from the installed @pulumi/aws: every resource type whose
// constructor args accept `tags`. Run after upgrading @pulumi/aws:
//   node policies/data/generate-taggable-types.ts
// Reading ~1,500 declaration files takes seconds, so the list is generated once and committed
// rather than computed on every policy run.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const awsRoot = dirname(require.resolve("@pulumi/aws/package.json"));

export function taggableTypes(root: string): { version: string; types: string[] } {
  const types: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".js") || entry.parentPath.includes(`${root}/types`))
      continue;
    const js = readFileSync(join(entry.parentPath, entry.name), "utf8");
    const token = /__pulumiType = '(aws:[^']+)'/.exec(js)?.[1];
    if (!token) continue;
    const dts = readFileSync(join(entry.parentPath, entry.name.replace(/\.js$/, ".d.ts")), "utf8");
    const args = /export interface \w+Args \{([\s\S]*?)\n\}/.exec(dts)?.[1] ?? "";
    if (/^\s{4}tags\?:/m.test(args)) types.push(token);
  }
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return { version, types: [...new Set(types)].sort() };
}

if (import.meta.main) {
  const out = join(dirname(fileURLToPath(import.meta.url)), "aws-taggable-types.json");
  const result = taggableTypes(awsRoot);
  writeFileSync(out, `${JSON.stringify({ awsVersion: result.version, types: result.types }, null, 2)}\n`);
  console.log(`wrote ${result.types.length} taggable types of @pulumi/aws ${result.version} to ${out}`);
}
