// Stylesheets imported with `with { type: "text" }` are their text (Bun and Deno both embed
// them; tsc only needs to know the type).
declare module "*.css" {
  const text: string;
  export default text;
}
