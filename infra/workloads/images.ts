// Image references, pinned by digest. Stack config names each image as `<tag>@sha256:<64 hex>`:
// the digest is what the kubelet pulls (a tag can be moved in the registry; a digest cannot, so
// what runs changes only with a deploy), and the tag travels with it as the
// `app.kubernetes.io/version` label, for the humans reading `kubectl get pods`.

/** A release's image: the tag people name it by and the digest that is actually pulled. */
export interface PinnedImage {
  tag: string;
  digest: string;
}

const TAG = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The label that carries the tag of the image a workload runs. */
export const VERSION_LABEL = "app.kubernetes.io/version";

/**
 * Why `value` is not `<tag>@sha256:<64 hex>`, or undefined when it is. The tag must also be a valid
 * label value (at most 63 characters, alphanumeric at both ends), since it becomes one.
 */
export function pinnedImageProblem(value: string): string | undefined {
  const at = value.indexOf("@");
  if (at < 0) {
    return DIGEST.test(value)
      ? "is a digest without its tag; give both as <tag>@sha256:<64 hex> (the tag becomes the version label)"
      : "is a tag without a digest; a tag can be moved in the registry, so give <tag>@sha256:<64 hex> (the digest from `crane digest` or `aws ecr describe-images`)";
  }
  const tag = value.slice(0, at);
  const digest = value.slice(at + 1);
  const problems: string[] = [];
  if (tag === "latest") problems.push("must be pinned: `latest` moves under you and cannot be rolled back");
  else if (!TAG.test(tag))
    problems.push(
      `has tag ${JSON.stringify(tag)}, which is not a valid label value (1-63 of A-Z a-z 0-9 . _ -)`,
    );
  if (!DIGEST.test(digest))
    problems.push(`has digest ${JSON.stringify(digest)}, which is not sha256: followed by 64 lower-case hex`);
  return problems.length > 0 ? problems.join("; ") : undefined;
}

/** Splits `<tag>@sha256:<64 hex>`; throws naming the problem and the expected form otherwise. */
export function parsePinnedImage(value: string): PinnedImage {
  const problem = pinnedImageProblem(value);
  if (problem) throw new Error(`Image reference ${JSON.stringify(value)} ${problem}`);
  const at = value.indexOf("@");
  return { tag: value.slice(0, at), digest: value.slice(at + 1) };
}

/** `registry/repository@sha256:...`: the reference the pod spec pulls. */
export function imageRef(registry: string, repository: string, image: PinnedImage): string {
  if (!DIGEST.test(image.digest)) {
    throw new Error(
      `Image ${repository} must be pinned by a sha256 digest, got ${JSON.stringify(image.digest)}`,
    );
  }
  return `${registry}/${repository}@${image.digest}`;
}

/** What a workload component is given: the reference its pods pull and the tag they are labelled with. */
export interface WorkloadImage {
  ref: string;
  tag: string;
}

export function workloadImage(registry: string, repository: string, image: PinnedImage): WorkloadImage {
  return { ref: imageRef(registry, repository, image), tag: image.tag };
}

/** The pod label naming the tag of the image it runs (never in a selector: it changes each release). */
export function versionLabel(image: { tag: string }): Record<string, string> {
  return { [VERSION_LABEL]: image.tag };
}

export const QUOTE_API_REPOSITORY = "freight/quote-api";
export const OPERATORS_REPOSITORY = "freight/platform-operators";
