import { Storage } from '@google-cloud/storage';
const port = process.argv[2];
const s = new Storage({ apiEndpoint: `http://127.0.0.1:${port}`, projectId: 'p' });
const b = s.bucket('b1');
try { await s.createBucket('b1'); } catch (e) { console.log('create', (e as Error).message); }
await b.file('x.csv').save('hello', { resumable: false });
const [m1] = await b.file('x.csv').getMetadata();
console.log('gen1', m1.generation, m1.md5Hash, m1.size, m1.updated);
await b.file('x.csv').save('hello2', { resumable: false });
const [m2] = await b.file('x.csv').getMetadata();
console.log('gen2', m2.generation);
try { const [buf] = await b.file('x.csv', { generation: Number(m1.generation) }).download(); console.log('old gen read', buf.toString()); } catch (e) { console.log('old gen err', (e as Error).message); }
try { await b.file('x.csv').save('hello3', { resumable: false, preconditionOpts: { ifGenerationMatch: Number(m1.generation) } }); console.log('precondition NOT enforced'); } catch (e) { console.log('precondition enforced', (e as Error).message); }
await b.file('big.csv').save(Buffer.alloc(12 * 1024 * 1024, 65), { resumable: true });
const [m3] = await b.file('big.csv').getMetadata(); console.log('resumable', m3.size, m3.generation);
const [files] = await b.getFiles({ prefix: '' }); console.log(files.map((f) => [f.name, f.metadata.generation]));
await b.file('x.csv').copy(b.file('done/x.csv')); await b.file('x.csv').delete({ ifGenerationMatch: Number(m2.generation) } as never);
const [files2] = await b.getFiles(); console.log(files2.map((f) => f.name));
