// Entry point the Pulumi CLI runs (`pulumi preview --policy-pack policies`): serves the pack to
// the engine over gRPC. Nothing else may import this file; import ./pack.ts instead.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./pack.ts";

new PolicyPack(PACK_NAME, packArgs);
