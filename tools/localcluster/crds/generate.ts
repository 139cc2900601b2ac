// Generates the third-party CRDs the region stacks create objects of (External Secrets, KEDA, the
// Prometheus operator) from the OpenAPI models the @kubernetes-models/* npm packages carry, so the
// local kube-apiserver validates our ExternalSecrets, ScaledObjects and PodMonitors the way the
// charts' CRDs do. No internet here, so the schemas come from npm, not from the upstream charts:
// README.md beside this file records which upstream release each package was built from.
//
// The packages ship each type twice: as TypeScript declarations and as precompiled validators.
// The declarations give the complete field set (what strict field validation needs), types, enums
// and required fields; the validators are probed for which numbers are integers. Patterns, bounds
// and CEL rules are not carried over. The YAML is committed so tests do not need the packages:
//
//   (mkdir -p /tmp/crd-models && cd /tmp/crd-models && npm init -y >/dev/null && \
//     npm install @kubernetes-models/keda@2.0.0 @kubernetes-models/external-secrets@2.0.0 \
//     @kubernetes-models/prometheus-operator@6.0.0)
//   node tools/localcluster/crds/generate.ts /tmp/crd-models
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import ts from "typescript";
import { stringify } from "yaml";

export const CRDS_DIR = path.dirname(fileURLToPath(import.meta.url));

interface KindSpec {
  kind: string;
  plural: string;
  scope: "Namespaced" | "Cluster";
  version: string;
  /** Declaration file of the kind inside its package, e.g. keda.sh/v1alpha1/ScaledObject.d.ts. */
  declaration: string;
  shortNames?: string[];
}

interface GroupSpec {
  group: string;
  npmPackage: string;
  kinds: KindSpec[];
}

/**
 * The kinds the stacks create, and the neighbours they are about to use (TriggerAuthentication for
 * KEDA credentials, AlertmanagerConfig for receivers); ScaledJob and SecretStore are left out on
 * purpose: each embeds a large schema (a pod template, every store provider) nothing here uses.
 */
export const GROUPS: GroupSpec[] = [
  {
    group: "external-secrets.io",
    npmPackage: "@kubernetes-models/external-secrets",
    kinds: [
      {
        kind: "ClusterSecretStore",
        plural: "clustersecretstores",
        scope: "Cluster",
        version: "v1",
        declaration: "external-secrets.io/v1/ClusterSecretStore.d.ts",
        shortNames: ["css"],
      },
      {
        kind: "ExternalSecret",
        plural: "externalsecrets",
        scope: "Namespaced",
        version: "v1",
        declaration: "external-secrets.io/v1/ExternalSecret.d.ts",
        shortNames: ["es"],
      },
    ],
  },
  {
    group: "keda.sh",
    npmPackage: "@kubernetes-models/keda",
    kinds: [
      {
        kind: "ScaledObject",
        plural: "scaledobjects",
        scope: "Namespaced",
        version: "v1alpha1",
        declaration: "keda.sh/v1alpha1/ScaledObject.d.ts",
        shortNames: ["so"],
      },
      {
        kind: "TriggerAuthentication",
        plural: "triggerauthentications",
        scope: "Namespaced",
        version: "v1alpha1",
        declaration: "keda.sh/v1alpha1/TriggerAuthentication.d.ts",
        shortNames: ["ta", "triggerauth"],
      },
      {
        kind: "ClusterTriggerAuthentication",
        plural: "clustertriggerauthentications",
        scope: "Cluster",
        version: "v1alpha1",
        declaration: "keda.sh/v1alpha1/ClusterTriggerAuthentication.d.ts",
        shortNames: ["cta", "clustertriggerauth"],
      },
    ],
  },
  {
    group: "monitoring.coreos.com",
    npmPackage: "@kubernetes-models/prometheus-operator",
    kinds: [
      {
        kind: "PodMonitor",
        plural: "podmonitors",
        scope: "Namespaced",
        version: "v1",
        declaration: "monitoring.coreos.com/v1/PodMonitor.d.ts",
        shortNames: ["pmon"],
      },
      {
        kind: "ServiceMonitor",
        plural: "servicemonitors",
        scope: "Namespaced",
        version: "v1",
        declaration: "monitoring.coreos.com/v1/ServiceMonitor.d.ts",
        shortNames: ["smon"],
      },
      {
        kind: "PrometheusRule",
        plural: "prometheusrules",
        scope: "Namespaced",
        version: "v1",
        declaration: "monitoring.coreos.com/v1/PrometheusRule.d.ts",
        shortNames: ["promrule"],
      },
      {
        kind: "AlertmanagerConfig",
        plural: "alertmanagerconfigs",
        scope: "Namespaced",
        version: "v1alpha1",
        declaration: "monitoring.coreos.com/v1alpha1/AlertmanagerConfig.d.ts",
        shortNames: ["amcfg"],
      },
    ],
  },
];

type Schema = Record<string, unknown>;
const PRESERVE: Schema = { "x-kubernetes-preserve-unknown-fields": true };

/** Turns declaration types into structural OpenAPI v3 schemas (what a CRD version's schema must be). */
class SchemaBuilder {
  private readonly checker: ts.TypeChecker;
  /** Interface name -> property names the package's validator says are integers. */
  private readonly integers: Map<string, Set<string>>;

  constructor(program: ts.Program, integers: Map<string, Set<string>>) {
    this.checker = program.getTypeChecker();
    this.integers = integers;
  }

  build(type: ts.Type, seen: ts.Type[] = []): Schema {
    const checker = this.checker;
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { ...PRESERVE };
    if (type.isUnion()) {
      const members = type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
      if (members.every((t) => t.flags & ts.TypeFlags.BooleanLiteral)) return { type: "boolean" };
      if (members.every((t) => t.isStringLiteral()))
        return { type: "string", enum: members.map((t) => (t as ts.StringLiteralType).value) };
      const kinds = new Set(
        members.map((t) =>
          t.flags & ts.TypeFlags.StringLike
            ? "string"
            : t.flags & ts.TypeFlags.NumberLike
              ? "number"
              : "other",
        ),
      );
      if (kinds.size === 2 && kinds.has("string") && kinds.has("number"))
        return { "x-kubernetes-int-or-string": true };
      if (members.length === 1) return this.build(members[0]!, seen);
      return { ...PRESERVE };
    }
    if (type.isStringLiteral()) return { type: "string", enum: [type.value] };
    if (type.flags & ts.TypeFlags.StringLike) return { type: "string" };
    if (type.flags & ts.TypeFlags.NumberLike) return { type: "number" };
    if (type.flags & ts.TypeFlags.BooleanLike) return { type: "boolean" };
    if (checker.isArrayType(type)) {
      const element = checker.getTypeArguments(type as ts.TypeReference)[0];
      return { type: "array", items: element ? this.build(element, seen) : { ...PRESERVE } };
    }
    if (!(type.flags & ts.TypeFlags.Object)) return { ...PRESERVE };
    // A type that contains itself (e.g. nested JSON schema) cannot be expanded: keep it open.
    if (seen.includes(type)) return { type: "object", ...PRESERVE };
    const inner = [...seen, type];
    const properties = checker.getPropertiesOfType(type);
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    if (properties.length === 0) {
      if (!index) return { type: "object", ...PRESERVE };
      const values = this.build(index.type, inner);
      return { type: "object", additionalProperties: values };
    }
    const name = type.getSymbol()?.getName() ?? "";
    const integers = this.integers.get(name) ?? new Set<string>();
    const props: Record<string, Schema> = {};
    const required: string[] = [];
    for (const property of properties) {
      const declaration = property.valueDeclaration ?? property.declarations?.[0];
      if (!declaration) continue;
      const propertyType = checker.getTypeOfSymbolAtLocation(property, declaration);
      let schema = this.build(propertyType, inner);
      if (schema["type"] === "number" && integers.has(property.getName())) schema = { type: "integer" };
      props[property.getName()] = schema;
      if (!(property.flags & ts.SymbolFlags.Optional)) required.push(property.getName());
    }
    return { type: "object", properties: props, ...(required.length ? { required: required.sort() } : {}) };
  }
}

/**
 * Which number fields of each interface are integers: each package ships a precompiled validator
 * per type (`_schemas/<Name>.js`); fed 0.5 in every number field, it names the integer ones.
 */
async function integerFields(program: ts.Program): Promise<Map<string, Set<string>>> {
  const checker = program.getTypeChecker();
  const result = new Map<string, Set<string>>();
  for (const file of program.getSourceFiles()) {
    if (!file.isDeclarationFile || !file.fileName.includes("node_modules")) continue;
    for (const statement of file.statements) {
      if (!ts.isInterfaceDeclaration(statement)) continue;
      const type = checker.getTypeAtLocation(statement);
      const numeric = checker
        .getPropertiesOfType(type)
        .filter((p) => {
          const d = p.valueDeclaration ?? p.declarations?.[0];
          if (!d) return false;
          const t = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(p, d));
          return Boolean(t.flags & ts.TypeFlags.NumberLike);
        })
        .map((p) => p.getName());
      if (numeric.length === 0) continue;
      // IScaledObjectSpec in keda.sh/v1alpha1/ScaledObjectSpec.d.ts -> _schemas/ComGithub...ScaledObjectSpec.js
      const exported = /export type \{ I\w+ as I(\w+),/.exec(file.text)?.[1];
      if (!exported) continue;
      const packageRoot = file.fileName.slice(0, file.fileName.lastIndexOf("node_modules/") + 13);
      const rest = file.fileName.slice(packageRoot.length).split("/");
      const pkgDir = path.join(packageRoot, ...rest.slice(0, rest[0]!.startsWith("@") ? 2 : 1));
      const validatorFile = path.join(pkgDir, "_schemas", `${exported}.js`);
      if (!existsSync(validatorFile)) continue;
      const { validate } = (await import(pathToFileURL(validatorFile).href)) as {
        validate: ((data: unknown) => boolean) & {
          errors?: { instancePath: string; params: { type?: string } }[];
        };
      };
      validate(Object.fromEntries(numeric.map((n) => [n, 0.5])));
      const ints = new Set(
        (validate.errors ?? [])
          .filter((e) => e.params.type === "integer")
          .map((e) => e.instancePath.split("/")[1]!.replace(/~1/g, "/").replace(/~0/g, "~")),
      );
      if (ints.size) result.set(statement.name.text, ints);
    }
  }
  return result;
}

function crd(group: GroupSpec, spec: KindSpec, schema: Schema): Record<string, unknown> {
  const properties = { ...((schema["properties"] as Record<string, Schema> | undefined) ?? {}) };
  // The API server owns metadata; a CRD schema may only constrain name/generateName there.
  delete properties["metadata"];
  properties["apiVersion"] = { type: "string" };
  properties["kind"] = { type: "string" };
  const hasStatus = "status" in properties;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${spec.plural}.${group.group}` },
    spec: {
      group: group.group,
      names: {
        kind: spec.kind,
        listKind: `${spec.kind}List`,
        plural: spec.plural,
        singular: spec.kind.toLowerCase(),
        ...(spec.shortNames ? { shortNames: spec.shortNames } : {}),
      },
      scope: spec.scope,
      versions: [
        {
          name: spec.version,
          served: true,
          storage: true,
          ...(hasStatus ? { subresources: { status: {} } } : {}),
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties,
              ...(Array.isArray(schema["required"])
                ? {
                    required: (schema["required"] as string[]).filter(
                      (r) => r !== "apiVersion" && r !== "kind" && r !== "metadata",
                    ),
                  }
                : {}),
            },
          },
        },
      ],
    },
  };
}

export function crdFile(group: string): string {
  return path.join(CRDS_DIR, `${group}.yaml`);
}

async function main(): Promise<void> {
  const modelsRoot = process.argv[2];
  if (!modelsRoot || !existsSync(path.join(modelsRoot, "node_modules"))) {
    console.error(
      "usage: node tools/localcluster/crds/generate.ts <dir with node_modules holding the @kubernetes-models packages>\n" +
        "       (the header of this file shows the npm install line)",
    );
    process.exit(2);
  }
  for (const group of GROUPS) {
    const pkgDir = path.join(modelsRoot, "node_modules", group.npmPackage);
    const version = (
      JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8")) as { version: string }
    ).version;
    const roots = group.kinds.map((k) => path.join(pkgDir, k.declaration));
    const program = ts.createProgram(roots, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    });
    const integers = await integerFields(program);
    const builder = new SchemaBuilder(program, integers);
    const documents: string[] = [];
    for (const [i, spec] of group.kinds.entries()) {
      const source = program.getSourceFile(roots[i]!);
      const declaration = source?.statements.find(
        (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === `I${spec.kind}`,
      );
      if (!declaration) throw new Error(`${roots[i]} declares no interface I${spec.kind}`);
      const schema = builder.build(program.getTypeChecker().getTypeAtLocation(declaration));
      documents.push(stringify(crd(group, spec, schema), { lineWidth: 0 }));
    }
    const header =
      `# ${group.group} CRDs for the local kube-apiserver, generated from ${group.npmPackage}@${version}\n` +
      `# by tools/localcluster/crds/generate.ts (do not edit; README.md says how to regenerate).\n`;
    writeFileSync(crdFile(group.group), header + documents.map((d) => `---\n${d}`).join(""));
    console.log(`${crdFile(group.group)}: ${group.kinds.map((k) => k.kind).join(", ")}`);
  }
}

if (import.meta.main) await main();
