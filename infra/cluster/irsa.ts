// IAM roles for Kubernetes service accounts (IRSA): a pod gets AWS permissions only through the
// service account it runs as, scoped by the cluster's OIDC issuer, never through the node role.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { FormerComponent } from "../moved.ts";
import { movedFrom } from "../moved.ts";

export interface ServiceAccountRoleArgs {
  oidcProviderArn: pulumi.Input<string>;
  /** Issuer URL without the https:// scheme, as IAM condition keys spell it. */
  oidcIssuer: pulumi.Input<string>;
  namespace: string;
  serviceAccount: string;
  policyArns: pulumi.Input<string>[];
  /** Where the role (and its attachments, `<name>-<i>`) was registered before a refactor. */
  formerly?: { component: FormerComponent; name: string };
}

export function serviceAccountRole(
  name: string,
  args: ServiceAccountRoleArgs,
  opts: pulumi.CustomResourceOptions,
): aws.iam.Role {
  const role = new aws.iam.Role(
    name,
    {
      description: `Assumed by ${args.namespace}/${args.serviceAccount} through IRSA`,
      assumeRolePolicy: pulumi.all([args.oidcProviderArn, args.oidcIssuer]).apply(([arn, issuer]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Federated: arn },
              Action: "sts:AssumeRoleWithWebIdentity",
              Condition: {
                StringEquals: {
                  [`${issuer}:sub`]: `system:serviceaccount:${args.namespace}:${args.serviceAccount}`,
                  [`${issuer}:aud`]: "sts.amazonaws.com",
                },
              },
            },
          ],
        }),
      ),
    },
    args.formerly ? { ...opts, aliases: movedFrom(args.formerly.component, args.formerly.name) } : opts,
  );
  args.policyArns.forEach((policyArn, i) => {
    new aws.iam.RolePolicyAttachment(
      `${name}-${i}`,
      { role: role.name, policyArn },
      args.formerly
        ? { ...opts, aliases: movedFrom(args.formerly.component, `${args.formerly.name}-${i}`) }
        : opts,
    );
  });
  return role;
}
