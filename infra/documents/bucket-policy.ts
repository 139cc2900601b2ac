// Bucket policy pieces every bucket of the stacks shares (documents, the edge's access logs).
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** An IAM policy document from its statements. */
export function policyDocument(statements: object[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/** A bucket policy refusing every request that does not come over TLS. */
export function tlsOnlyBucketPolicy(
  name: string,
  bucket: aws.s3.Bucket,
  opts: pulumi.CustomResourceOptions,
): aws.s3.BucketPolicy {
  return new aws.s3.BucketPolicy(
    name,
    {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) =>
        policyDocument([
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: [arn, `${arn}/*`],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ]),
      ),
    },
    opts,
  );
}
