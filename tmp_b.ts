import { createApp } from "./http/app.ts";
const map = new Map<string,string>([["k","v"]]);
const store: any = { get: async (k: string) => map.get(k) ?? null, set: async (p: any) => { for (const [k,v] of p) map.set(k,v); }, delete: async () => {}, status: () => ({}) };
const app = createApp(store);
const N = 100_000;
for (let rep=0; rep<2; rep++) {
  let s = performance.now();
  for (let i=0;i<N;i++) { const r = await app.fetch(new Request("http://localhost/key/k")); await r.text(); }
  console.log("GET", ((performance.now()-s)*1000/N).toFixed(2), "us/req");
  s = performance.now();
  for (let i=0;i<N;i++) { const r = await app.fetch(new Request("http://localhost/key", { method: "POST", body: '{"a":"1"}' })); await r.text(); }
  console.log("POST", ((performance.now()-s)*1000/N).toFixed(2), "us/req");
}
