// PostGraphile v5 over the same database as Ambito, for the side-by-side
// load benchmark (bench/run). Each request carries an HS256 JWT whose
// claims are the transaction settings Ambito's row-level security reads;
// they become PostGraphile's pgSettings, with the same non-BYPASSRLS role
// Ambito's request work uses, so both servers see exactly the same rows.
// One worker process per core, as Node runs JavaScript on one thread.
//
//   DATABASE_URL=… JWT_SECRET=… PORT=… WORKERS=2 POOL=16 node server.mjs
import cluster from "node:cluster";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { jsonPgSmartTags } from "postgraphile/utils";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

// W2 filters by status, which has no index of its own (the hub's index
// leads); PostGraphile offers filters on indexed columns only, unless told.
const statusFilter = jsonPgSmartTags({
  version: 1,
  config: { class: { enrolment_requests: { attribute: { status: { tags: { isIndexed: true } } } } } },
});

const workers = Number(process.env.WORKERS || 2);
const port = Number(process.env.PORT || 18081);

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  // The workers go with the primary, whichever way it ends.
  const stop = (code) => {
    for (const w of Object.values(cluster.workers)) w.process.kill();
    process.exit(code);
  };
  cluster.on("exit", () => stop(1));
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));
} else {
  const secret = process.env.JWT_SECRET;
  const preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PostGraphileConnectionFilterPreset],
    plugins: [statusFilter],
    pgServices: [
      makePgService({
        connectionString: process.env.DATABASE_URL,
        schemas: ["public", "bench_pgl"],
        poolConfig: { max: Math.max(1, Math.floor(Number(process.env.POOL || 16) / workers)) },
      }),
    ],
    grafserv: { graphiqlOnGraphQLGET: false, graphiql: false, watch: false },
    grafast: {
      explain: false,
      context(requestContext) {
        const header = requestContext.node?.req?.headers?.authorization ?? "";
        const token = header.startsWith("Bearer ") ? header.slice(7) : null;
        // No valid token, no settings: row security then shows no tenant rows.
        let claims = {};
        if (token) {
          try {
            claims = jwt.verify(token, secret, { algorithms: ["HS256"] });
          } catch {
            claims = {};
          }
        }
        const pgSettings = { role: "ambito_app" };
        for (const [k, v] of Object.entries(claims)) {
          if (k.startsWith("ambito.")) pgSettings[k] = String(v);
        }
        return { pgSettings };
      },
    },
  };
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  await serv.addTo(server);
  server.listen(port, "127.0.0.1", () => {
    if (cluster.isWorker ? cluster.worker.id === 1 : true) console.log(`postgraphile listening on ${port}`);
  });
}
