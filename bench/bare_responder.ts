// The HTTP stack's own limit: a bare Bun server that answers every request with the same
// small JSON body a key read returns. Compiled like our binary, so start-up and size compare.
// Usage: bare_responder <port>

const port = Number(process.argv[2] ?? "0");
const body = '{"r-1":"value-0123456789"}';
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  development: false,
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
process.stderr.write(`bare responder on ${server.port}\n`);
