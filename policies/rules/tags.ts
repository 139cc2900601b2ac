// Cost allocation, ownership and incident routing rely on every AWS resource saying who owns it,
// how sensitive its data is and which region role it serves.
// Generated from the installed @pulumi/aws by policies/data/generate-taggable-types.ts.
import taggable from "../data/aws-taggable-types.json" with { type: "json" };
import type { Rule } from "./common.ts";
import { REGION_ROLE_TAG, effectiveTags, isUnknown, report, withDefaults } from "./common.ts";

export const TAGGABLE_TYPES: ReadonlySet<string> = new Set(taggable.types);

interface TagsConfig {
  requiredTags: string[];
}

const tagsSchema = {
  properties: {
    requiredTags: {
      type: "array" as const,
      items: { type: "string" as const },
      default: ["owner", "data-classification", REGION_ROLE_TAG],
      description: "Tags every taggable AWS resource carries (its own tags or the provider's defaultTags).",
    },
  },
};

export const requiredTags: Rule = {
  name: "tags-required",
  description: "Taggable AWS resources carry the owner, data-classification and region-role tags.",
  enforcementLevel: "mandatory",
  severity: "low",
  configSchema: tagsSchema,
  remediationSteps:
    "Set the tags on the provider's defaultTags (preferred: one place per stack) or on the resource's tags.",
  validateResource: (args, reportViolation) => {
    if (!TAGGABLE_TYPES.has(args.type)) args.notApplicable("The resource type does not accept tags.");
    const config = withDefaults<TagsConfig>(tagsSchema, args.getConfig());
    const tags = effectiveTags(args.props, args.provider);
    if (isUnknown(tags)) return;
    const missing = config.requiredTags.filter((t) => !tags[t] || tags[t]?.trim() === "");
    const role = tags[REGION_ROLE_TAG];
    const badRole =
      config.requiredTags.includes(REGION_ROLE_TAG) && role && role !== "primary" && role !== "secondary";
    if (missing.length > 0) {
      report(
        reportViolation,
        args,
        `is missing the tag(s) ${missing.join(", ")}.`,
        `add ${missing.map((t) => `"${t}"`).join(", ")} to the aws provider's defaultTags.tags for this stack, or to the resource's tags.`,
      );
    }
    if (badRole) {
      report(
        reportViolation,
        args,
        `has ${REGION_ROLE_TAG}="${role}", which is neither "primary" nor "secondary".`,
        `set ${REGION_ROLE_TAG} to "primary" or "secondary" (the stack's freight:role).`,
      );
    }
  },
};

export const tagRules: Rule[] = [requiredTags];
