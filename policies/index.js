// The Pulumi CLI loads a policy pack with `require(<package main>)` after registering its bundled
// ts-node for `.ts` files, which cannot compile this code base (it imports `.ts` paths and relies
// on Node's own type stripping). A JavaScript entry makes Node load the pack as an ES module, so
// `./index.ts` and everything it imports go through Node 24's type stripping instead.
import "./index.ts";
