// Admission-time defaults for platform objects, generated into operators/deploy/admission.yaml
// (`npm run operators:generate`) and deployed with the CRDs.
//
// The tenant finalizer at admission: a MutatingAdmissionPolicy adds TENANT_FINALIZER to every
// Tenant when it is created, so a new tenant does not cost an API write (a metadata patch) before
// the tenant controller can report its status, and a Tenant deleted right after it was created
// still waits for offboarding. Kubernetes serves admissionregistration.k8s.io/v1
// MutatingAdmissionPolicy from 1.36 (GA). The tenant controller still adds the finalizer when it
// is missing (a Tenant created before the policy existed, or a cluster without it), so crash-safe
// offboarding never depends on the policy; failurePolicy Ignore means a broken policy never blocks
// tenant creation either.
import { API_GROUP, TENANT_FINALIZER } from "./group.ts";

export const ADMISSION_API_VERSION = "admissionregistration.k8s.io/v1";
export const TENANT_FINALIZER_POLICY = `tenant-finalizer.${API_GROUP}`;

/** CEL: JSON patches adding the finalizer, none when it is already there. */
const addFinalizerExpression = [
  `!has(object.metadata.finalizers) ? [JSONPatch{op: "add", path: "/metadata/finalizers", value: ["${TENANT_FINALIZER}"]}]`,
  `: "${TENANT_FINALIZER}" in object.metadata.finalizers ? []`,
  `: [JSONPatch{op: "add", path: "/metadata/finalizers/-", value: "${TENANT_FINALIZER}"}]`,
].join("\n");

export function admissionObjects(): object[] {
  return [
    {
      apiVersion: ADMISSION_API_VERSION,
      kind: "MutatingAdmissionPolicy",
      metadata: { name: TENANT_FINALIZER_POLICY },
      spec: {
        failurePolicy: "Ignore",
        reinvocationPolicy: "Never",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [API_GROUP],
              apiVersions: ["*"],
              operations: ["CREATE"],
              resources: ["tenants"],
            },
          ],
        },
        mutations: [{ patchType: "JSONPatch", jsonPatch: { expression: addFinalizerExpression } }],
      },
    },
    {
      apiVersion: ADMISSION_API_VERSION,
      kind: "MutatingAdmissionPolicyBinding",
      metadata: { name: TENANT_FINALIZER_POLICY },
      spec: { policyName: TENANT_FINALIZER_POLICY },
    },
  ];
}
