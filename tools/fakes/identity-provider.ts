// A real OpenID Connect provider (oidc-provider) on a free loopback port, standing in for a tenant's
// identity provider (Okta, Entra ID) in tests and on the local platform. Its one shortcut is the
// interaction: the login and consent pages sign in the configured user at once, so a test drives
// the authorization code flow with plain HTTP requests and a cookie jar.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface IdentityProviderClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface LocalIdentityProvider {
  issuer: string;
  /**
   * Follows an authorization URL through sign-in and consent as a browser would, and returns the
   * URL the provider redirects back to (the app's callback with code and state), unvisited.
   */
  signIn(authorizationUrl: string): Promise<URL>;
  stop(): Promise<void>;
}

export async function startIdentityProvider(options: {
  clients: IdentityProviderClient[];
  user: { id: string; email: string };
}): Promise<LocalIdentityProvider> {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server: Server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    })),
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: options.user.email, email_verified: true }),
    }),
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ["local-identity-provider"] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    // Like most hosted providers, the ID token itself carries the scopes' claims (email).
    conformIdTokenClaims: false,
    ttl: {
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      AccessToken: 600,
      IdToken: 600,
    },
  });
  const callback = provider.callback();
  handle = (req, res) => {
    if (!req.url?.startsWith("/interaction/")) return callback(req, res);
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      let result: Record<string, unknown>;
      if (details.prompt.name === "login") {
        result = { login: { accountId: options.user.id } };
      } else {
        const grant = new provider.Grant({
          accountId: details.session?.accountId ?? options.user.id,
          clientId: details.params["client_id"] as string,
        });
        grant.addOIDCScope(details.params["scope"] ?? "openid");
        result = { consent: { grantId: await grant.save() } };
      }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    })().catch((error: Error) => res.writeHead(500).end(error.message));
  };

  return {
    issuer,
    async signIn(authorizationUrl) {
      const jar = new Map<string, string>();
      let next = new URL(authorizationUrl);
      for (let hop = 0; hop < 10; hop++) {
        if (next.origin !== issuer) return next;
        const response = await fetch(next, {
          redirect: "manual",
          headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
        });
        for (const cookie of response.headers.getSetCookie()) {
          const [pair] = cookie.split(";");
          const [name, ...value] = (pair as string).split("=");
          jar.set(name as string, value.join("="));
        }
        const location = response.headers.get("location");
        if (!location)
          throw new Error(
            `the provider answered ${response.status} without a redirect: ${await response.text()}`,
          );
        next = new URL(location, next);
      }
      throw new Error("too many redirects at the identity provider");
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
