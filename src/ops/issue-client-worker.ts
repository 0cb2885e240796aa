/**
 * The worker thread of a big `issue-client --from` batch (issue-client.ts): builds the chunks of clients it
 * is sent — CSR, certificate, PKCS#12 (client-build.ts), for key pairs the main thread made — with the CA it
 * received as workerData, and sends back the finished files — with a CA key in a token, which only the main
 * thread's session reaches, it asks that thread for the signatures. It writes nothing and never loads the store:
 * the main thread owns the CA directory.
 */
import { workerData } from 'node:worker_threads';
import {
  type BuiltClient,
  buildClients,
  buildClientsSignedElsewhere,
  type ClientJob,
  type ClientWorkerData,
  caOfWorkerData,
} from './client-build.js';
import { askMainThread, serveJobs } from './worker-pool.js';

const data = workerData as ClientWorkerData;
const { certificate, privateKey } = caOfWorkerData(data);

serveJobs<ClientJob, BuiltClient>(async (jobs) =>
  privateKey
    ? buildClients({ certificate, privateKey }, data, jobs)
    : // a CA key in a token: the main thread signs (issue-client.ts)
      buildClientsSignedElsewhere(certificate, data, jobs, async (tbs) =>
        (await askMainThread<Uint8Array[]>(tbs)).map((sig) => Buffer.from(sig)),
      ),
);
