#!/usr/bin/env node
// Run after changing dependencies (`node .ci/lockfile-platform-stubs.js`): this machine's registry does not serve other
// platforms' optional binaries, so npm leaves them out of the lockfile and `npm ci` then refuses it as out of sync.
// Each gets an entry naming its OS and CPU; npm skips it on this platform and installs it normally elsewhere.
const fs = require('fs');
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const packages = lock.packages;
const osOf = (name) => ['darwin', 'win32', 'freebsd', 'android', 'openharmony', 'linux', 'wasm32', 'sunos', 'aix', 'netbsd', 'openbsd'].find((os) => name.includes(os));
const cpuOf = (name) => ['arm64', 'x64', 'ia32', 'arm', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el', 'wasm32'].find((cpu) => new RegExp(`[-_]${cpu}([-_]|$)`).test(name));
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies || {})) {
    const base = path === '' ? '' : `${path}/`;
    const nested = `${base}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[nested] || packages[hoisted]) continue;
    const version = String(spec).replace(/^[\^~=]/, '');
    const record = { version, optional: true };
    const os = osOf(name.split('/').pop());
    const cpu = cpuOf(name.split('/').pop());
    if (os) record.os = [os];
    if (cpu) record.cpu = [cpu];
    if (/musl/.test(name)) record.libc = ['musl'];
    else if (/gnu/.test(name) && os === 'linux') record.libc = ['glibc'];
    packages[hoisted] = record;
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
fs.writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} optional platform entries`);
