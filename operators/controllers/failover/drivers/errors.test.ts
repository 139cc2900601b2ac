import { describe, expect, it } from "vitest";
import { classifyDriverError, DriverError, toDriverError } from "./errors.ts";

// Shapes of the errors the libraries raise (node-postgres, Node's net module, AWS SDK v3).
const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
const aws = (name: string, httpStatusCode: number) =>
  Object.assign(new Error(`${name}: not allowed`), { name, $metadata: { httpStatusCode } });

describe("classifyDriverError", () => {
  it("separates missing grants, refused credentials, lost servers and slow ones", () => {
    expect(classifyDriverError(withCode("permission denied for function pg_promote", "42501"))).toBe(
      "PermissionDenied",
    );
    expect(classifyDriverError(aws("AccessDenied", 403))).toBe("PermissionDenied");
    expect(classifyDriverError(withCode('password authentication failed for user "x"', "28P01"))).toBe(
      "AuthenticationFailed",
    );
    expect(classifyDriverError(aws("InvalidClientTokenId", 403))).toBe("PermissionDenied");
    expect(classifyDriverError(aws("InvalidClientTokenId", 400))).toBe("AuthenticationFailed");
    expect(classifyDriverError(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).toBe(
      "Unreachable",
    );
    expect(
      classifyDriverError(withCode("terminating connection due to administrator command", "57P01")),
    ).toBe("Unreachable");
    expect(classifyDriverError(new Error("Connection terminated unexpectedly"))).toBe("Unreachable");
    expect(classifyDriverError(new Error("Connection terminated due to connection timeout"))).toBe(
      "TimedOut",
    );
    expect(classifyDriverError(new Error("Query read timeout"))).toBe("TimedOut");
    expect(
      classifyDriverError(
        new AggregateError([withCode("connect ECONNREFUSED ::1:5432", "ECONNREFUSED")], ""),
      ),
    ).toBe("Unreachable");
    expect(classifyDriverError(new Error('relation "jobs" does not exist'))).toBe("Failed");
  });
});

describe("toDriverError", () => {
  it("says what was attempted, the reason in words and the original detail", () => {
    const error = toDriverError(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"), "reading x");
    expect(error).toBeInstanceOf(DriverError);
    expect(error.reason).toBe("Unreachable");
    expect(error.message).toBe("reading x: unreachable (connect ECONNREFUSED 127.0.0.1:5432)");
  });

  it("keeps a driver's own, more precise error", () => {
    const inner = new DriverError("PermissionDenied", "promoting on secondary's database: permission denied");
    expect(toDriverError(inner, "promoting")).toBe(inner);
  });
});
