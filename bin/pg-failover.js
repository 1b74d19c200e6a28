#!/usr/bin/env node
// Runs the compiled CLI when the project was built, else the TypeScript sources through tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const compiled = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(compiled)) require('tsx/cjs');
const { main } = require(existsSync(compiled) ? compiled : join(__dirname, '..', 'src', 'cli', 'main.ts'));
main(process.argv);
