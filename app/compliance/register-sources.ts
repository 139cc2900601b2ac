// Where the evidence reads the data-subject-request and pen-test registers: the same queries the
// API's gauges and the DSR drill use (app/compliance/evidence-sources.ts).
import type { RegisterSources } from "./collectors.ts";
import { dsrOnTimeRate, penTestFindingsAgainstSla } from "./evidence-sources.ts";

export const REGISTER_SOURCES: RegisterSources = { dsrOnTimeRate, penTestFindingsAgainstSla };
