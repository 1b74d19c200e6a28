#!/usr/bin/env node
// The operator CLI runs from its TypeScript sources through tsx: it is a development-side tool
// that talks to the app's HTTP API, not part of what Azure runs.
require('tsx/cjs');
const { join } = require('node:path');
const { main } = require(join(__dirname, '..', 'cli', 'main.ts'));
main(process.argv);
