// Where the evidence reads the data-subject-request and pen-test registers. Those registers (and
// app/compliance/evidence-sources.ts, which exports dsrOnTimeRate and penTestFindingsAgainstSla with
// the RegisterSources signatures) come with the DSR change; until it is merged, both controls fail
// with this reason rather than pass on nothing. On merge this file becomes:
//   import { dsrOnTimeRate, penTestFindingsAgainstSla } from "./evidence-sources.ts";
//   export const REGISTER_SOURCES: RegisterSources = { dsrOnTimeRate, penTestFindingsAgainstSla };
import type { RegisterSources } from "./collectors.ts";

const notYet = (register: string) => () =>
  Promise.reject(
    new Error(`the ${register} register is not part of this build (app/compliance/evidence-sources.ts)`),
  );

export const REGISTER_SOURCES: RegisterSources = {
  dsrOnTimeRate: notYet("data subject request"),
  penTestFindingsAgainstSla: notYet("pen-test findings"),
};
