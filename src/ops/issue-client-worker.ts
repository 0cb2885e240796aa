/**
 * The worker thread of a big `issue-client --from` batch (issue-client.ts): builds the chunks of clients it
 * is sent — CSR, certificate, PKCS#12 (client-build.ts), for key pairs the main thread made — with the CA it
 * received as workerData, and sends back the finished files. It writes nothing and never loads the store: the
 * main thread owns the CA directory.
 */
import { workerData } from 'node:worker_threads';
import {
  type BuiltClient,
  buildClients,
  type ClientJob,
  type ClientWorkerData,
  caOfWorkerData,
} from './client-build.js';
import { serveJobs } from './worker-pool.js';

const data = workerData as ClientWorkerData;
const ca = caOfWorkerData(data);

serveJobs<ClientJob, BuiltClient>(async (jobs) => buildClients(ca, data, jobs));
