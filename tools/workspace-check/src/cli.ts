// The nx `lint` target: `node tools/workspace-check/dist/cli.js [PROJECT]` checks the module boundaries
// of one project (or all) and exits 1 naming each offending import.
import { findViolations, loadWorkspace, WORKSPACE_ROOT } from './boundaries.js';
import { projectGraph } from './nx.js';

const only = process.argv[2];
const violations = findViolations(loadWorkspace(WORKSPACE_ROOT, projectGraph()), only);
for (const v of violations) console.error(v);
if (violations.length > 0) process.exit(1);
console.log(`module boundaries: ${only ?? 'every project'} ok`);
