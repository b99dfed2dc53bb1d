// The mail path suite on the backend chosen by E2E_STORE (embedded by default).
import { mailPathSuite } from './mail-path.suite.js';
import { E2E_STORE } from './helpers.js';

mailPathSuite(E2E_STORE);
