// The Hugging Face JavaScript client (npm @huggingface/inference) pointed at binscan serve with
// its endpoint-URL form, as a web or node app would use it:
//   node hf_js_client.mjs PACKAGE_DIR URL TOKEN_FILE PHOTO...
// PACKAGE_DIR holds node_modules/@huggingface/inference (tests/reference/install-hf-js).
// Prints one JSON line per photo: {"image": PHOTO, "answer": [{label, score}, ...]}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [packageDir, url, tokenFile, ...photos] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(packageDir), "index.js"));
const { InferenceClient } = require("@huggingface/inference");
const token = readFileSync(tokenFile, "utf8").trim();
const endpoint = new InferenceClient(token).endpoint(url);
for (const photo of photos) {
  const data = new Blob([readFileSync(photo)]);
  const answer = await endpoint.imageClassification({ data });
  console.log(JSON.stringify({ image: photo, answer }));
}
