// Image references: a tag or a digest, never `latest` (config validation rejects it; this is
// the last line of defence for callers that bypass the config).
export function imageRef(registry: string, repository: string, tagOrDigest: string): string {
  if (tagOrDigest === "latest" || tagOrDigest === "") {
    throw new Error(`Image ${repository} must be pinned to a tag or sha256 digest, got "${tagOrDigest}"`);
  }
  const separator = tagOrDigest.startsWith("sha256:") ? "@" : ":";
  return `${registry}/${repository}${separator}${tagOrDigest}`;
}

export const QUOTE_API_REPOSITORY = "freight/quote-api";
export const OPERATORS_REPOSITORY = "freight/platform-operators";
