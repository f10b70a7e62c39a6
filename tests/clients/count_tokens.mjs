// Counts cl100k_base tokens offline: reads a JSON array of strings on stdin, prints a JSON array of counts.
// js-tiktoken ships the cl100k ranks in the package, so nothing is fetched at run time (Python's tiktoken
// downloads them from a host this machine can't reach).
import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const texts = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const encoding = new Tiktoken(cl100k);
process.stdout.write(JSON.stringify(texts.map((text) => encoding.encode(text).length)) + "\n");
