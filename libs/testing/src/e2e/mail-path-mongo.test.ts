// The whole mail path suite again with mailbox-store on MongoDB (FerretDB here, or MONGODB_URI), so that
// CI proves both backends end to end.
import { mailPathSuite } from './mail-path.suite.js';
import { E2E_STORE } from './helpers.js';

if (E2E_STORE !== 'mongo') mailPathSuite('mongo'); // with E2E_STORE=mongo, mail-path.test.ts already does
