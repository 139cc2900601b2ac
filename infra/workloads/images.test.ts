// The image references pods pull: by digest only, with the tag kept for the version label.
import { describe, expect, it } from "vitest";

import { imageRef, parsePinnedImage, versionLabel, workloadImage } from "./images.ts";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

describe("pinned images", () => {
  it("pull by digest and label pods with the tag", () => {
    const image = parsePinnedImage(`2026.11.26-3f9c2ab@${DIGEST}`);
    expect(image).toEqual({ tag: "2026.11.26-3f9c2ab", digest: DIGEST });
    expect(workloadImage(REGISTRY, "freight/quote-api", image)).toEqual({
      ref: `${REGISTRY}/freight/quote-api@${DIGEST}`,
      tag: "2026.11.26-3f9c2ab",
    });
    expect(versionLabel(image)).toEqual({ "app.kubernetes.io/version": "2026.11.26-3f9c2ab" });
  });

  it("refuse a tag alone, a digest alone and a malformed digest, saying which", () => {
    expect(() => parsePinnedImage("2026.11.26-3f9c2ab")).toThrow(/is a tag without a digest/);
    expect(() => parsePinnedImage(DIGEST)).toThrow(/is a digest without its tag/);
    expect(() => parsePinnedImage("2026.11.26-3f9c2ab@sha256:ABC")).toThrow(/not sha256: followed by 64/);
    expect(() => imageRef(REGISTRY, "freight/quote-api", { tag: "1.0", digest: "1.0" })).toThrow(
      /must be pinned by a sha256 digest/,
    );
  });
});
