// The runner's version, as package.json says (test/cli.test.ts checks they agree): printed by
// --version and recorded in every summary.
export const VERSION = '0.1.0';
