#!/usr/bin/env node
// Entry for the installed command: load TypeScript through tsx so the same sources run everywhere.
import { register } from 'tsx/esm/api';
register();
await import('../gateway/main.ts');
