// The OpenID Connect relying party (openid-client): discovery per tenant provider, the authorization
// request (code flow, PKCE S256, state, nonce) and the code exchange that validates the ID token
// (issuer, audience, signature, nonce). Discovery results are kept a few minutes per provider.
import * as client from "openid-client";

export interface ProviderCredentials {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface AuthorizationRequest {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface VerifiedUser {
  subject: string;
  email: string | null;
}

const DISCOVERY_CACHE_MS = 5 * 60_000;

/** Plain HTTP only for a provider on this machine (the local platform's and the tests' IdP). */
function isLoopback(issuer: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
}

export class OidcRelyingParty {
  readonly #configs = new Map<string, { config: client.Configuration; until: number }>();

  async #configuration(credentials: ProviderCredentials): Promise<client.Configuration> {
    const key = `${credentials.issuer}\n${credentials.clientId}\n${credentials.clientSecret}`;
    const hit = this.#configs.get(key);
    if (hit && hit.until > Date.now()) return hit.config;
    const issuer = new URL(credentials.issuer);
    const config = await client.discovery(issuer, credentials.clientId, credentials.clientSecret, undefined, {
      execute: isLoopback(issuer) ? [client.allowInsecureRequests] : [],
      timeout: 10,
    });
    if (this.#configs.size > 1000) this.#configs.clear();
    this.#configs.set(key, { config, until: Date.now() + DISCOVERY_CACHE_MS });
    return config;
  }

  async authorizationRequest(
    credentials: ProviderCredentials,
    redirectUri: string,
  ): Promise<AuthorizationRequest> {
    const config = await this.#configuration(credentials);
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid email",
      response_type: "code",
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    return { url, state, nonce, codeVerifier };
  }

  /** Exchanges the callback's code; throws when the provider or the ID token does not check out. */
  async verifyCallback(
    credentials: ProviderCredentials,
    callbackUrl: URL,
    checks: { state: string; nonce: string; codeVerifier: string },
  ): Promise<VerifiedUser> {
    const config = await this.#configuration(credentials);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims) throw new Error("the provider returned no ID token");
    return { subject: claims.sub, email: typeof claims["email"] === "string" ? claims["email"] : null };
  }
}
