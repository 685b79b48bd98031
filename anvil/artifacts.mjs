#!/usr/bin/env node
// Copies ABI and bytecode of Marquee's own contracts from forge's build folder into small
// committed JSON files (Foundry's artifact shape), which the Rust `sol!` bindings read.
// Usage: artifacts.mjs <forge out dir> <dest dir>
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

export const CONTRACTS = ['AttendancePOAP', 'ScreeningPass', 'DemoToken', 'DemoBadge', 'SignatureValidator6492', 'Multicall3', 'DelegateRegistry', 'GateProbe']
const [outDir, destDir] = process.argv.slice(2)
if (!outDir || !destDir) {
  process.stderr.write('usage: artifacts.mjs <forge out dir> <dest dir>\n')
  process.exit(2)
}
mkdirSync(destDir, { recursive: true })
for (const name of CONTRACTS) {
  const a = JSON.parse(readFileSync(join(outDir, `${name}.sol`, `${name}.json`), 'utf8'))
  const slim = {
    abi: a.abi,
    bytecode: { object: a.bytecode.object },
    deployedBytecode: { object: a.deployedBytecode.object },
  }
  writeFileSync(join(destDir, `${name}.json`), JSON.stringify(slim, null, 1) + '\n')
}
