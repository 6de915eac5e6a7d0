// talkee-cli: the command-line client. The same core as the PWA (web/src: the MLS engine
// in ../src/mls, the vault format, the API client, the connection and its tunnel codec,
// the app layer's Session and Messenger), run in Node 20 with the browser globals it reads
// provided by ./env.ts and the vault kept in a file (./vaultFile.ts). Commands: ./commands.ts.
import { setOrigin } from "./env";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { humanError } from "../src/api/client";
import { run, USAGE } from "./commands";

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      server: { type: "string" },
      vault: { type: "string" },
      dns: { type: "string" },
      "dns-fallback": { type: "string" },
      phrase: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const server = values.server ?? process.env["TALKEE_SERVER"] ?? "http://127.0.0.1:8000";
  setOrigin(server);
  const vault = values.vault ?? process.env["TALKEE_VAULT"] ?? join(homedir(), ".talkee", "vault.json");
  const dns = values.dns ?? process.env["TALKEE_DNS"] ?? null;
  const fallback = values["dns-fallback"] ?? process.env["TALKEE_DNS_FALLBACK"] ?? "system";
  return run(positionals, { server, vault, dns, fallback, phrase: values.phrase });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`talkee-cli: ${humanError(err)}\n`);
    if (process.env["TALKEE_CLI_DEBUG"]) console.error(err);
    process.exit(1);
  },
);
