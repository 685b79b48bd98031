#!/usr/bin/env node
// A `solc` for Foundry's `forge --use`, backed by solc-js from npm, so that contracts build
// and forge tests run offline without a native solc download. Forge asks `--version`, then
// runs `--standard-json` with the input on stdin and import roots in --base-path/--include-path.
import { createRequire } from 'node:module'
import { readFileSync, existsSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'

const require = createRequire(import.meta.url)
const solc = require('solc')
const args = process.argv.slice(2)

if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`)
  process.exit(0)
}
if (!args.includes('--standard-json')) {
  process.stderr.write(`solc.mjs: only --version and --standard-json are supported (got ${args.join(' ')})\n`)
  process.exit(2)
}

const roots = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path') roots.push(args[++i])
}
if (roots.length === 0) roots.push(process.cwd())

function findImports(path) {
  const candidates = isAbsolute(path) ? [path] : roots.map((r) => resolve(r, path))
  for (const c of candidates) {
    if (existsSync(c)) return { contents: readFileSync(c, 'utf8') }
  }
  return { error: `file not found: ${path} (searched ${roots.join(', ')})` }
}

const input = readFileSync(0, 'utf8')
process.stdout.write(solc.compile(input, { import: findImports }))
